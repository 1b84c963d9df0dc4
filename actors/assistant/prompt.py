"""The system prompt renderer (ACTORS.md §2.8): keyed contributions grouped into ordered sections."""

import re
import time

import jinja2
import jinja2.debug  # imported lazily by jinja2 on errors; componentize-py bundles only what is imported at build time
import jinja2.ext

BUILTIN_SECTIONS = (
    ("identity", "Identity"),
    ("context", "Context"),
    ("capabilities", "Capabilities"),
    ("guidelines", "Guidelines"),
    ("tools", "Tools"),
    ("instructions", "Instructions"),
    ("system_context", "System Context"),
)
_RANK = {name: i for i, (name, _) in enumerate(BUILTIN_SECTIONS)}
_DISPLAY = dict(BUILTIN_SECTIONS)
KEY_FORMAT = re.compile(r"^[a-z0-9_-]+:[^:]+$")

# Output: per section "<tag>\n" + texts joined by a blank line + "</tag>\n\n" (tag: display name
# lower-cased, spaces as underscores).
DEFAULT_BASE_TEMPLATE = (
    "{% for name, texts in sections %}{% set tag = name | lower | replace(' ', '_') %}"
    "<{{ tag }}>\n{{ texts | join('\n\n') }}</{{ tag }}>\n\n{% endfor %}"
)

_env = jinja2.Environment(autoescape=False, keep_trailing_newline=True, undefined=jinja2.Undefined)
# Compiled at import, i.e. at build time: exercises (and so bundles) every module the compiler needs.
_DEFAULT = _env.from_string(DEFAULT_BASE_TEMPLATE)
_env.from_string(
    "{{ data | tojson }}{% if data %}{{ data.x | default('') | upper | trim }}{% endif %}"
).render(data={})


def section_of(name):
    """``(sort key, display name)`` of a section string: built-ins case-insensitively, else custom."""
    if name is None:
        name = "default"
    key = name.lower().replace("-", "_")
    if key in _RANK:
        return (_RANK[key], ""), _DISPLAY[key]
    return (len(_RANK), name), name


class Contribution:
    """One keyed piece of the prompt."""

    def __init__(self, key, content, priority, section):
        self.key = key
        self.content = content  # {"Text": str} or {"Data": {"data", "default_template"}}
        self.priority = priority
        self.rank, self.section = section_of(section)


class PromptRenderer:
    """Contributions by key; renders them into the system prompt."""

    def __init__(self, base_template=None, overrides=None, exclude=(), log=None):
        self.base_template = base_template
        self.overrides = dict(overrides or {})
        self.exclude = set(exclude)
        self.contributions = {}
        self.log = log

    def add(self, key, content, priority, section):
        """Add or replace a contribution (excluded keys are dropped silently)."""
        if key in self.exclude:
            return
        self.contributions[key] = Contribution(key, content, priority, section)

    def add_external(self, body):
        """A ``SystemPromptContribution`` payload; keys must look like ``<actor_type>:<name>``."""
        key = body.get("key", "")
        if not isinstance(key, str) or not KEY_FORMAT.match(key):
            self._error(
                f"rejected system prompt contribution with key {key!r}: keys must look like "
                "'<actor_type>:<name>' (one colon, lower-case actor type, e.g. 'planner:current_plan')"
            )
            return
        self.add(key, body.get("content"), int(body.get("priority", 0)), body.get("section"))

    def render(self):
        """The whole system prompt."""
        grouped = {}
        ordered = sorted(self.contributions.values(), key=lambda c: (c.rank, -c.priority, c.key))
        for contribution in ordered:
            text = self._render_one(contribution)
            if text:
                grouped.setdefault((contribution.rank, contribution.section), []).append(text)
        sections = [[name, texts] for (_, name), texts in grouped.items()]
        if self.base_template:
            try:
                return _env.from_string(self.base_template).render(sections=sections)
            except Exception as error:  # noqa: BLE001 - a user's template may raise anything; fall back
                self._error(f"system_prompt.base_template failed ({error}); using the default template")
        return _DEFAULT.render(sections=sections)

    def _render_one(self, contribution):
        content = contribution.content or {}
        try:
            if "Text" in content:
                return str(content["Text"]).strip()
            data = content["Data"]
            template = self.overrides.get(contribution.key) or data.get("default_template", "")
            return _env.from_string(template).render(data=data.get("data")).strip()
        except Exception as error:  # noqa: BLE001 - a user's template may raise anything; skip it
            self._error(
                f"system prompt contribution {contribution.key!r} failed to render ({error}); skipped"
            )
            return ""

    def _error(self, text):
        if self.log is not None:
            self.log.error(text)


def builtin_contributions(renderer, working_directory, os_info):
    """The assistant's own ``SystemContext`` contributions (captured once, at construction)."""
    now = time.time()
    utc = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now))
    local = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(now)).strip()
    for key, text in (
        ("system:current_directory", f"Current working directory: {working_directory}"),
        ("system:datetime", f"Current date and time: {utc} UTC (Local: {local})"),
        ("system:os_info", f"Operating system: {os_info.os} {os_info.arch}"),
    ):
        renderer.add(key, {"Text": text}, 0, "system_context")
