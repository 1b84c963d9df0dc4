"""Assistant statuses as their JSON (PROTOCOL.md §3.2) and the wake-up rules (ACTORS.md §2.4)."""


def processing(request_id):
    return {"Processing": {"request_id": request_id}}


def wait(reason):
    return {"Wait": {"reason": reason}}


def waiting_for_system_input(required_scope=None, interruptible_by_user=True):
    return wait(
        {
            "WaitingForSystemInput": {
                "required_scope": required_scope,
                "interruptible_by_user": interruptible_by_user,
            }
        }
    )


IDLE = waiting_for_system_input()
ALL_ACTORS_READY = wait("WaitingForAllActorsReady")
LITELLM = wait("WaitingForLiteLLM")


def waiting_for_tools(request_id, calls):
    table = {call["id"]: {"tool_call": call, "result": None} for call in calls}
    return wait({"WaitingForTools": {"originating_request_id": request_id, "tool_calls": table}})


def reason(status):
    """``(name, fields)`` of a ``Wait`` status's reason, else ``(None, None)``."""
    if not isinstance(status, dict) or "Wait" not in status:
        return None, None
    value = status["Wait"]["reason"]
    if isinstance(value, str):
        return value, {}
    ((name, fields),) = value.items()
    return name, fields


def kind(status):
    """``Processing``, ``Done`` or the wait reason's name."""
    if "Processing" in status:
        return "Processing"
    if "Done" in status:
        return "Done"
    return reason(status)[0]


def round_id(status):
    """The request id of a ``WaitingForTools`` or ``WaitingForAgentCoordination`` status."""
    name, fields = reason(status)
    if name in ("WaitingForTools", "WaitingForAgentCoordination"):
        return fields.get("originating_request_id")
    return None


def wakes(status, sender_scope, is_user):
    """Whether a user (``is_user``) or system message from ``sender_scope`` ends the wait ``status``."""
    name, fields = reason(status)
    if name == "WaitingForUserInput":
        return is_user
    if name == "WaitingForSystemInput":
        if is_user:
            return bool(fields.get("interruptible_by_user"))
        return fields.get("required_scope") in (None, sender_scope)
    if name == "WaitingForAgentCoordination":
        if is_user:
            return bool(fields.get("user_can_interrupt"))
        return fields.get("target_agent_scope") in (None, sender_scope)
    return False
