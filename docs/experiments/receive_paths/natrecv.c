/* Experiment: a NATS receive path that runs without the GIL.
 * A native thread owns its own connection: it reads, cuts MSG/HMSG frames, reads the envelope
 * headers, and queues records; take() hands batches to Python (waiting with the GIL released). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

typedef struct rec {
    struct rec *next;
    int type_len, id_len, actor_len, scope_len, payload_len;
    char data[];
} rec;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static rec *head = NULL, *tail = NULL;
static long queued = 0;
static int sock = -1;
static int type_at = 0;

static int send_all(const char *p, size_t n) {
    while (n) { ssize_t w = send(sock, p, n, 0); if (w <= 0) return -1; p += w; n -= w; }
    return 0;
}

static const char *find_crlf(const char *p, const char *end) {
    for (; p + 1 < end; p++) if (p[0] == '\r' && p[1] == '\n') return p;
    return NULL;
}

static void header_value(const char *block, const char *end, const char *name, const char **v, int *vl) {
    size_t nl = strlen(name);
    const char *p = block;
    *v = ""; *vl = 0;
    while (p < end) {
        const char *e = find_crlf(p, end); if (!e) e = end;
        if ((size_t)(e - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *s = p + nl + 1; while (s < e && (*s == ' ' || *s == '\t')) s++;
            const char *t = e; while (t > s && (t[-1] == ' ' || t[-1] == '\t')) t--;
            *v = s; *vl = (int)(t - s); return;
        }
        p = e + 2;
    }
}

/* Parse frames in buf[0:len]; returns bytes consumed. */
static size_t parse(char *buf, size_t len) {
    size_t at = 0;
    rec *first = NULL, *last = NULL; long n = 0;
    for (;;) {
        const char *line = buf + at, *end = buf + len;
        const char *e = find_crlf(line, end);
        if (!e) break;
        size_t ll = e - line;
        int hmsg = ll > 5 && memcmp(line, "HMSG ", 5) == 0;
        int msg = !hmsg && ll > 4 && memcmp(line, "MSG ", 4) == 0;
        if (!hmsg && !msg) {
            if (ll == 4 && memcmp(line, "PING", 4) == 0) send_all("PONG\r\n", 6);
            at += ll + 2; continue;
        }
        /* tokens */
        const char *tok[6]; int tl[6]; int nt = 0; const char *p = line;
        while (p < e && nt < 6) {
            while (p < e && *p == ' ') p++;
            if (p >= e) break;
            const char *s = p; while (p < e && *p != ' ') p++;
            tok[nt] = s; tl[nt] = (int)(p - s); nt++;
        }
        long total = strtol(tok[nt - 1], NULL, 10);
        long hdr = hmsg ? strtol(tok[nt - 2], NULL, 10) : 0;
        size_t body = ll + 2;
        if (at + body + total + 2 > len) break;
        const char *b = line + body;
        const char *id = "", *actor = "", *scope = ""; int idl = 0, al = 0, sl = 0;
        if (hdr) {
            const char *hb = b, *he = b + hdr;
            const char *first_line = find_crlf(hb, he); if (first_line) hb = first_line + 2;
            header_value(hb, he, "Wasmind-Id", &id, &idl);
            header_value(hb, he, "Wasmind-From-Actor", &actor, &al);
            header_value(hb, he, "Wasmind-From-Scope", &scope, &sl);
        }
        int typel = tl[1] - type_at; if (typel < 0) typel = 0;
        int pl = (int)(total - hdr);
        rec *r = malloc(sizeof(rec) + typel + idl + al + sl + pl);
        r->next = NULL; r->type_len = typel; r->id_len = idl; r->actor_len = al; r->scope_len = sl; r->payload_len = pl;
        char *d = r->data;
        memcpy(d, tok[1] + type_at, typel); d += typel;
        memcpy(d, id, idl); d += idl; memcpy(d, actor, al); d += al; memcpy(d, scope, sl); d += sl;
        memcpy(d, b + hdr, pl);
        if (last) last->next = r; else first = r;
        last = r; n++;
        at += body + total + 2;
    }
    if (first) {
        pthread_mutex_lock(&mu);
        if (tail) tail->next = first; else head = first;
        tail = last; queued += n;
        pthread_cond_signal(&cv);
        pthread_mutex_unlock(&mu);
    }
    return at;
}

static void *reader(void *arg) {
    (void)arg;
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (cap - len < 65536) { cap *= 2; buf = realloc(buf, cap); }
        ssize_t r = recv(sock, buf + len, cap - len, 0);
        if (r <= 0) break;
        len += r;
        size_t used = parse(buf, len);
        if (used) { memmove(buf, buf + used, len - used); len -= used; }
    }
    free(buf);
    return NULL;
}

static PyObject *start(PyObject *self, PyObject *args) {
    const char *host, *subject; int port;
    if (!PyArg_ParseTuple(args, "sis", &host, &port, &subject)) return NULL;
    sock = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(port);
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(sock, (struct sockaddr *)&a, sizeof a) < 0) return PyErr_SetFromErrno(PyExc_OSError);
    int one = 1; setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    type_at = (int)strlen(subject);
    char cmd[1024];
    int n = snprintf(cmd, sizeof cmd, "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB %s> 1\r\nPING\r\n", subject);
    send_all(cmd, n);
    pthread_t t; pthread_create(&t, NULL, reader, NULL); pthread_detach(t);
    Py_RETURN_NONE;
}

static PyObject *str_of(const char *p, int n) { return PyUnicode_DecodeUTF8(p, n, "replace"); }

static PyObject *take(PyObject *self, PyObject *args) {
    int max; double timeout;
    if (!PyArg_ParseTuple(args, "id", &max, &timeout)) return NULL;
    rec *got = NULL; long count = 0;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&mu);
    if (!head) {
        struct timespec ts; clock_gettime(CLOCK_REALTIME, &ts);
        long ns = ts.tv_nsec + (long)(timeout * 1e9);
        ts.tv_sec += ns / 1000000000L; ts.tv_nsec = ns % 1000000000L;
        while (!head) if (pthread_cond_timedwait(&cv, &mu, &ts) != 0) break;
    }
    got = head; rec *r = head, *prev = NULL;
    while (r && count < max) { prev = r; r = r->next; count++; }
    if (prev) { prev->next = NULL; head = r; if (!r) tail = NULL; queued -= count; }
    pthread_mutex_unlock(&mu);
    Py_END_ALLOW_THREADS
    PyObject *list = PyList_New(count);
    rec *q = got;
    for (long i = 0; i < count; i++) {
        const char *d = q->data;
        PyObject *t = PyTuple_New(5);
        PyTuple_SET_ITEM(t, 0, str_of(d, q->type_len)); d += q->type_len;
        PyTuple_SET_ITEM(t, 1, str_of(d, q->id_len)); d += q->id_len;
        PyTuple_SET_ITEM(t, 2, str_of(d, q->actor_len)); d += q->actor_len;
        PyTuple_SET_ITEM(t, 3, str_of(d, q->scope_len)); d += q->scope_len;
        PyTuple_SET_ITEM(t, 4, PyBytes_FromStringAndSize(d, q->payload_len));
        PyList_SET_ITEM(list, i, t);
        rec *nx = q->next; free(q); q = nx;
    }
    return list;
}

static PyMethodDef methods[] = {
    {"start", start, METH_VARARGS, "start(host, port, subject_prefix)"},
    {"take", take, METH_VARARGS, "take(max, timeout) -> [(type, id, from_actor, from_scope, payload)]"},
    {NULL, NULL, 0, NULL}};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "natrecv", NULL, -1, methods};
PyMODINIT_FUNC PyInit_natrecv(void) { return PyModule_Create(&mod); }
