/* SPDX-License-Identifier: MIT */
/* client.c - the Client type: one sm_client (from sm_connect) or one
 * private manager (sm_manager_start) and its client, and opening proxies.
 *
 * A Client keeps the list of its live proxies, because the library wants
 * every proxy freed before its client: close() frees them (they then raise
 * statemgr.Error when used), waits for calls still running in other
 * threads (a blocking call on a private manager is ended by asking the
 * daemon to stop, which answers it), then stops the manager or frees the
 * client. Python's garbage collector may free proxies and clients in any
 * order at exit; the strong reference of each proxy to its client keeps the
 * client last. */
#include "ext.h"

#include <structmember.h>
#include <unistd.h>

int cli_check_open(cli_object *c) {
  if (c->client) return 0;
  ext_raise(SM_ECLOSED, "this statemgr client is closed (its manager was shut down)");
  return -1;
}

void cli_link(cli_object *c, prx_object *p) {
  p->prev = NULL;
  p->next = c->proxies;
  if (c->proxies) c->proxies->prev = p;
  c->proxies = p;
}

void cli_unlink(prx_object *p) {
  cli_object *c = p->client;
  if (!c) return;
  if (p->prev)
    p->prev->next = p->next;
  else if (c->proxies == p)
    c->proxies = p->next;
  if (p->next) p->next->prev = p->prev;
  p->prev = p->next = NULL;
}

static cli_object *cli_alloc(PyTypeObject *cls, sm_client *client, sm_manager *manager,
                             const char *url) {
  cli_object *c = (cli_object *)cls->tp_alloc(cls, 0);
  if (!c) return NULL;
  c->client = client;
  c->manager = manager;
  c->pid = getpid();
  c->authkey = Py_NewRef(Py_None);
  c->url = PyUnicode_FromString(url);
  if (!c->url) {
    Py_DECREF(c);
    return NULL;
  }
  return c;
}

/* Sets one string option; a NULL value leaves the default. */
#define SET_OPT(call)                                                                              \
  do {                                                                                             \
    int rc_ = (call);                                                                              \
    if (rc_ != SM_OK) {                                                                            \
      sm_options_free(o);                                                                          \
      return ext_raise_last(rc_);                                                                  \
    }                                                                                              \
  } while (0)

/* Seconds (a Python number, or None: not given) as the library's
 * milliseconds, rounded up; <= 0 is 0. Returns 0 with *ms set (-2: None),
 * or -1 with an exception set. */
static int seconds_to_ms(PyObject *seconds, int *ms) {
  *ms = -2;
  if (seconds == Py_None) return 0;
  double t = PyFloat_AsDouble(seconds);
  if (t == -1.0 && PyErr_Occurred()) return -1;
  *ms = t <= 0 ? 0 : t >= INT_MAX / 1000.0 ? INT_MAX : (int)(t * 1000.0 + 0.999);
  return 0;
}

/* Client.connect(url=None, *, authkey=None, authkey_file=None, tls_ca=None,
 * tls_cert=None, tls_key=None, tls_server_name=None, tls_insecure=False,
 * connect_timeout=None, client_name=None, failover_timeout=None) */
static PyObject *cli_connect(PyTypeObject *cls, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"url",
                           "authkey",
                           "authkey_file",
                           "tls_ca",
                           "tls_cert",
                           "tls_key",
                           "tls_server_name",
                           "tls_insecure",
                           "connect_timeout",
                           "client_name",
                           "failover_timeout",
                           NULL};
  const char *url = NULL, *key_file = NULL, *ca = NULL, *cert = NULL, *key = NULL, *sni = NULL,
             *name = NULL;
  Py_buffer authkey = {0};
  int insecure = 0;
  PyObject *timeout = Py_None, *failover = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|z$z*zzzzzpOzO:connect", kwlist, &url, &authkey,
                                   &key_file, &ca, &cert, &key, &sni, &insecure, &timeout, &name,
                                   &failover))
    return NULL;
  int timeout_ms, failover_ms;
  if (seconds_to_ms(timeout, &timeout_ms) < 0 || seconds_to_ms(failover, &failover_ms) < 0)
    goto fail_buf;
  sm_options *o = sm_options_new();
  if (!o) {
    PyErr_NoMemory();
    goto fail_buf;
  }
  if (authkey.buf) {
    int rc = sm_options_set_authkey(o, authkey.buf, (size_t)authkey.len);
    PyBuffer_Release(&authkey);
    authkey.buf = NULL;
    SET_OPT(rc);
  }
  if (key_file) SET_OPT(sm_options_set_authkey_file(o, key_file));
  if (ca) SET_OPT(sm_options_set_tls_ca(o, ca));
  if (cert) SET_OPT(sm_options_set_tls_cert(o, cert, key));
  if (sni) SET_OPT(sm_options_set_tls_server_name(o, sni));
  if (insecure) SET_OPT(sm_options_set_tls_insecure_skip_verify(o, true));
  if (timeout_ms != -2) SET_OPT(sm_options_set_connect_timeout(o, timeout_ms));
  if (failover_ms != -2) SET_OPT(sm_options_set_failover_timeout(o, failover_ms));
  if (name) SET_OPT(sm_options_set_client_name(o, name));
  sm_client *client = NULL;
  int rc;
  Py_BEGIN_ALLOW_THREADS rc = sm_connect(url, o, &client);
  Py_END_ALLOW_THREADS sm_options_free(o);
  if (rc != SM_OK) return ext_raise_last(rc);
  cli_object *c = cli_alloc(cls, client, NULL, sm_client_url(client));
  if (!c) sm_client_free(client);
  return (PyObject *)c;
fail_buf:
  if (authkey.buf) PyBuffer_Release(&authkey);
  return NULL;
}

/* Client.start_manager(daemon_path=None, log_file=None, start_timeout=None,
 * authkey=None): authkey None lets the library draw a random key. */
static PyObject *cli_start_manager(PyTypeObject *cls, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"daemon_path", "log_file", "start_timeout", "authkey", NULL};
  const char *daemon = NULL, *log_file = NULL;
  PyObject *timeout = Py_None;
  Py_buffer authkey = {0};
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|zzOz*:start_manager", kwlist, &daemon, &log_file,
                                   &timeout, &authkey))
    return NULL;
  sm_manager_options *o = sm_manager_options_new();
  if (!o) {
    if (authkey.buf) PyBuffer_Release(&authkey);
    return PyErr_NoMemory();
  }
  int rc = SM_OK;
  if (authkey.buf) {
    rc = sm_manager_options_set_authkey(o, authkey.buf, (size_t)authkey.len);
    PyBuffer_Release(&authkey);
  }
  if (rc == SM_OK && daemon) rc = sm_manager_options_set_daemon_path(o, daemon);
  if (rc == SM_OK && log_file) rc = sm_manager_options_set_log_file(o, log_file);
  if (rc == SM_OK && timeout != Py_None) {
    double t = PyFloat_AsDouble(timeout);
    if (t == -1.0 && PyErr_Occurred()) {
      sm_manager_options_free(o);
      return NULL;
    }
    rc = sm_manager_options_set_start_timeout_ms(o, t < 0.001 ? 1 : (int)(t * 1000.0));
  }
  if (rc != SM_OK) {
    sm_manager_options_free(o);
    return ext_raise_last(rc);
  }
  sm_manager *m = NULL;
  Py_BEGIN_ALLOW_THREADS rc = sm_manager_start(o, &m);
  Py_END_ALLOW_THREADS sm_manager_options_free(o);
  if (rc != SM_OK) return ext_raise_last(rc);
  cli_object *c = cli_alloc(cls, sm_manager_client(m), m, sm_manager_url(m));
  if (!c) sm_manager_shutdown(m);
  return (PyObject *)c;
}

/* Frees every proxy that no thread is using, and returns how many are
 * still busy. */
static long release_idle_proxies(cli_object *c) {
  long busy = 0;
  for (prx_object *p = c->proxies, *next; p; p = next) {
    next = p->next;
    if (p->busy)
      busy++;
    else
      prx_release(p);
  }
  return busy;
}

/* close(): frees the proxies, then stops the private manager (returns
 * True when it stopped cleanly) or closes the connections. */
static PyObject *cli_close(cli_object *c, PyObject *unused) {
  (void)unused;
  if (!c->client) Py_RETURN_NONE;
  release_idle_proxies(c);
  sm_client *client = c->client;
  c->client = NULL; /* new calls are refused from here on */
  bool asked = false;
  if (c->inflight > 0 && c->manager && c->pid == getpid()) {
    /* Blocking calls of other threads are parked in the daemon: stopping it
     * answers them (SM_ESHUTDOWN). */
    Py_BEGIN_ALLOW_THREADS sm_shutdown(client);
    Py_END_ALLOW_THREADS asked = true;
  }
  for (int i = 0; c->inflight > 0 && i < 1000; i++) {
    Py_BEGIN_ALLOW_THREADS usleep(10000);
    Py_END_ALLOW_THREADS
  }
  if (c->inflight > 0) {
    /* A call that never returns (a connect() client blocked forever): the
     * client cannot be freed under it, so it is left to the process exit. */
    PyErr_WarnEx(PyExc_RuntimeWarning,
                 "statemgr: closing a client while a call still runs in another thread; its "
                 "connections stay open until that call returns",
                 1);
    c->manager = NULL;
    Py_RETURN_NONE;
  }
  release_idle_proxies(c);
  if (c->manager) {
    sm_manager *m = c->manager;
    c->manager = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = sm_manager_shutdown(m);
    Py_END_ALLOW_THREADS if (rc == SM_EINTERNAL && asked) rc = SM_OK;
    return PyBool_FromLong(rc == SM_OK);
  }
  Py_BEGIN_ALLOW_THREADS sm_client_free(client);
  Py_END_ALLOW_THREADS Py_RETURN_NONE;
}

/* Runs a manager-level library call with the GIL released. */
#define CLI_CALL(c, rc, expr)                                                                      \
  do {                                                                                             \
    if (cli_check_open(c) < 0) return NULL;                                                        \
    sm_client *client_ = (c)->client;                                                              \
    (c)->inflight++;                                                                               \
    Py_BEGIN_ALLOW_THREADS rc = (expr);                                                            \
    Py_END_ALLOW_THREADS(c)->inflight--;                                                           \
    (void)client_;                                                                                 \
  } while (0)

/* CLI_CALL for a call that holds an sm_value of its own: freed when the
 * client is closed already. */
#define CLI_CALL_FREEING(c, rc, expr, owned)                                                       \
  do {                                                                                             \
    if (cli_check_open(c) < 0) {                                                                   \
      sm_value_free(owned);                                                                        \
      return NULL;                                                                                 \
    }                                                                                              \
    sm_client *client_ = (c)->client;                                                              \
    (c)->inflight++;                                                                               \
    Py_BEGIN_ALLOW_THREADS rc = (expr);                                                            \
    Py_END_ALLOW_THREADS(c)->inflight--;                                                           \
  } while (0)

static PyObject *value_result(cli_object *c, int rc, sm_value *v) {
  if (rc != SM_OK) return ext_raise_last(rc);
  PyObject *r = val_to_py(c, v);
  sm_value_free(v);
  return r;
}

static PyObject *cli_ping(cli_object *c, PyObject *unused) {
  (void)unused;
  int rc;
  CLI_CALL(c, rc, sm_ping(client_));
  if (rc != SM_OK) return ext_raise_last(rc);
  Py_RETURN_NONE;
}

static PyObject *cli_info(cli_object *c, PyObject *unused) {
  (void)unused;
  int rc;
  sm_value *v = NULL;
  CLI_CALL(c, rc, sm_info(client_, &v));
  return value_result(c, rc, v);
}

static PyObject *cli_ls(cli_object *c, PyObject *args) {
  const char *type = NULL;
  if (!PyArg_ParseTuple(args, "|z:ls", &type)) return NULL;
  int rc;
  sm_value *v = NULL;
  CLI_CALL(c, rc, sm_ls(client_, type, &v));
  return value_result(c, rc, v);
}

/* A cursor or count from Python: a non-negative int (None: 0). Returns 0,
 * or -1 with an exception set. */
static int scan_number(PyObject *obj, const char *what, unsigned long long *out) {
  *out = 0;
  if (obj == Py_None) return 0;
  *out = PyLong_AsUnsignedLongLong(obj);
  if (*out == (unsigned long long)-1 && PyErr_Occurred()) {
    if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
      PyErr_Clear();
      PyErr_Format(PyExc_ValueError, "%s must be a non-negative int, not %R", what, obj);
    }
    return -1;
  }
  return 0;
}

/* ls_scan(type, cursor, count): one page of ls, as (next, [maps]);
 * sm_ls_scan. */
static PyObject *cli_ls_scan(cli_object *c, PyObject *args) {
  const char *type = NULL;
  PyObject *pycursor, *pycount;
  if (!PyArg_ParseTuple(args, "zOO:ls_scan", &type, &pycursor, &pycount)) return NULL;
  unsigned long long cursor, count;
  if (scan_number(pycursor, "cursor", &cursor) < 0 || scan_number(pycount, "count", &count) < 0)
    return NULL;
  int rc;
  uint64_t next = 0;
  sm_value *page = NULL;
  CLI_CALL(c, rc, sm_ls_scan(client_, type, cursor, (size_t)count, &next, &page));
  PyObject *items = value_result(c, rc, page);
  return items ? Py_BuildValue("(KN)", (unsigned long long)next, items) : NULL;
}

/* slowlog_get(count=-1): the newest count entries, newest first. */
static PyObject *cli_slowlog_get(cli_object *c, PyObject *args) {
  long long count = -1;
  if (!PyArg_ParseTuple(args, "|L:slowlog_get", &count)) return NULL;
  int rc;
  sm_value *v = NULL;
  CLI_CALL(c, rc, sm_slowlog_get(client_, count, &v));
  return value_result(c, rc, v);
}

/* set_guard(guard, token): the calling thread's later calls run only while
 * guard's grant token is token; guard None clears it. */
static PyObject *cli_set_guard(cli_object *c, PyObject *args) {
  PyObject *guard;
  unsigned long long token = 0;
  if (!PyArg_ParseTuple(args, "O|K:set_guard", &guard, &token)) return NULL;
  int rc = SM_OK;
  if (guard == Py_None) {
    if (cli_check_open(c) < 0) return NULL;
    sm_client_clear_guard(c->client);
    Py_RETURN_NONE;
  }
  if (!PyObject_TypeCheck(guard, &prx_type) || !((prx_object *)guard)->proxy)
    return PyErr_Format(PyExc_TypeError, "a guard is an open lock, rlock or semaphore proxy");
  sm_proxy *g = ((prx_object *)guard)->proxy;
  CLI_CALL(c, rc, sm_client_set_guard(client_, g, (uint64_t)token));
  if (rc != SM_OK) return ext_raise_last(rc);
  Py_RETURN_NONE;
}

/* locks(): the wait-for graph (sm_locks). */
static PyObject *cli_locks(cli_object *c, PyObject *unused) {
  (void)unused;
  int rc;
  sm_value *v = NULL;
  CLI_CALL(c, rc, sm_locks(client_, &v));
  return value_result(c, rc, v);
}

static PyObject *cli_slowlog_len(cli_object *c, PyObject *unused) {
  (void)unused;
  int rc;
  int64_t n = 0;
  CLI_CALL(c, rc, sm_slowlog_len(client_, &n));
  if (rc != SM_OK) return ext_raise_last(rc);
  return PyLong_FromLongLong(n);
}

static PyObject *cli_slowlog_reset(cli_object *c, PyObject *unused) {
  (void)unused;
  int rc;
  CLI_CALL(c, rc, sm_slowlog_reset(client_));
  if (rc != SM_OK) return ext_raise_last(rc);
  Py_RETURN_NONE;
}

/* config_get(key): a run-time setting ("*": all of them, as a dict). */
static PyObject *cli_config_get(cli_object *c, PyObject *args) {
  const char *key;
  if (!PyArg_ParseTuple(args, "s:config_get", &key)) return NULL;
  int rc;
  sm_value *v = NULL;
  CLI_CALL(c, rc, sm_config_get(client_, key, &v));
  return value_result(c, rc, v);
}

/* config_set(key, value): changes a run-time setting. */
static PyObject *cli_config_set(cli_object *c, PyObject *args) {
  const char *key;
  PyObject *pyvalue;
  if (!PyArg_ParseTuple(args, "sO:config_set", &key, &pyvalue)) return NULL;
  sm_value *v = NULL;
  if (val_from_py(c, pyvalue, false, &v) < 0) return NULL;
  int rc;
  CLI_CALL_FREEING(c, rc, sm_config_set(client_, key, v), v);
  sm_value_free(v);
  if (rc != SM_OK) return ext_raise_last(rc);
  Py_RETURN_NONE;
}

static PyObject *cli_show(cli_object *c, PyObject *args) {
  const char *name;
  if (!PyArg_ParseTuple(args, "s:show", &name)) return NULL;
  int rc;
  sm_value *v = NULL;
  CLI_CALL(c, rc, sm_show(client_, name, &v));
  return value_result(c, rc, v);
}

static PyObject *cli_delete(cli_object *c, PyObject *args) {
  const char *name;
  if (!PyArg_ParseTuple(args, "s:delete", &name)) return NULL;
  int rc;
  CLI_CALL(c, rc, sm_delete(client_, name));
  if (rc != SM_OK) return ext_raise_last(rc);
  Py_RETURN_NONE;
}

/* expire(name, ms): the named object goes ms from now. */
static PyObject *cli_expire(cli_object *c, PyObject *args) {
  const char *name;
  long long ms;
  if (!PyArg_ParseTuple(args, "sL:expire", &name, &ms)) return NULL;
  int rc;
  CLI_CALL(c, rc, sm_expire(client_, name, ms));
  if (rc != SM_OK) return ext_raise_last(rc);
  Py_RETURN_NONE;
}

/* ttl(name) -> ms left, or None without a TTL. */
static PyObject *cli_ttl(cli_object *c, PyObject *args) {
  const char *name;
  if (!PyArg_ParseTuple(args, "s:ttl", &name)) return NULL;
  int rc;
  int64_t ms = 0;
  CLI_CALL(c, rc, sm_ttl(client_, name, &ms));
  if (rc != SM_OK) return ext_raise_last(rc);
  if (ms < 0) Py_RETURN_NONE;
  return PyLong_FromLongLong(ms);
}

/* persist(name) -> True when it had a TTL. */
static PyObject *cli_persist(cli_object *c, PyObject *args) {
  const char *name;
  if (!PyArg_ParseTuple(args, "s:persist", &name)) return NULL;
  int rc;
  bool had = false;
  CLI_CALL(c, rc, sm_persist(client_, name, &had));
  if (rc != SM_OK) return ext_raise_last(rc);
  return PyBool_FromLong(had);
}

static PyObject *cli_shutdown_daemon(cli_object *c, PyObject *unused) {
  (void)unused;
  int rc;
  CLI_CALL(c, rc, sm_shutdown(client_));
  if (rc != SM_OK) return ext_raise_last(rc);
  Py_RETURN_NONE;
}

/* Typed proxies open with their own function; each returns the typed
 * pointer, its sm_proxy view and its free function. */
typedef struct opened {
  void *typed;
  sm_proxy *view;
  void (*free_fn)(void *);
} opened;

static void free_proxy(void *p) { sm_proxy_free(p); }
static void free_semaphore(void *p) { sm_semaphore_free(p); }
static void free_array(void *p) { sm_array_free(p); }

/* open(type, name=None, *init, cls=None): gets or creates the object; the
 * creation arguments are the daemon's (docs/protocol.md): a semaphore takes
 * (value, auto_release), an array (typecode, values), other types at most
 * one. */
static PyObject *cli_open(cli_object *c, PyObject *args, PyObject *kw) {
  Py_ssize_t nargs = PyTuple_GET_SIZE(args);
  if (nargs < 1) return PyErr_Format(PyExc_TypeError, "open() needs a type name");
  const char *type = PyUnicode_AsUTF8(PyTuple_GET_ITEM(args, 0));
  if (!type) return NULL;
  PyObject *pyname = nargs > 1 ? PyTuple_GET_ITEM(args, 1) : Py_None;
  const char *name = pyname == Py_None ? NULL : PyUnicode_AsUTF8(pyname);
  if (pyname != Py_None && !name) return NULL;
  PyObject *cls = kw ? PyDict_GetItemString(kw, "cls") : NULL;
  if (cls && cls != Py_None &&
      (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &prx_type)))
    return PyErr_Format(PyExc_TypeError, "cls must be a Proxy subclass");
  PyTypeObject *klass = cls && cls != Py_None ? (PyTypeObject *)cls : ext_proxy_class(type);
  Py_ssize_t ninit = nargs > 2 ? nargs - 2 : 0;
  if (cli_check_open(c) < 0) return NULL;
  /* ephemeral=, ttl_ms=: options for the object the call creates. */
  PyObject *eph = kw ? PyDict_GetItemString(kw, "ephemeral") : NULL;
  PyObject *ttl = kw ? PyDict_GetItemString(kw, "ttl_ms") : NULL;
  int ephemeral = eph && eph != Py_None ? PyObject_IsTrue(eph) : 0;
  long long ttl_ms = ttl && ttl != Py_None ? PyLong_AsLongLong(ttl) : 0;
  if (ephemeral < 0 || (ttl_ms == -1 && PyErr_Occurred())) return NULL;
  if (ttl_ms < 0) return PyErr_Format(PyExc_ValueError, "ttl_ms must be positive");
  bool with_opts = ephemeral || ttl_ms > 0;

  bool is_sem = strcmp(type, "semaphore") == 0 || strcmp(type, "bounded_semaphore") == 0;
  bool is_array = strcmp(type, "array") == 0;
  if (with_opts && (is_sem || is_array))
    return PyErr_Format(PyExc_TypeError,
                        "ephemeral and ttl_ms are not taken when opening a %s (use expire)", type);
  if (!is_sem && !is_array && ninit > 1)
    return PyErr_Format(PyExc_TypeError, "a %s takes at most one creation argument", type);
  opened o = {0};
  int rc;
  if (is_sem) {
    long long value = 1;
    int auto_release = 1;
    if (ninit > 0 && (value = PyLong_AsLongLong(PyTuple_GET_ITEM(args, 2))) == -1 &&
        PyErr_Occurred())
      return NULL;
    if (ninit > 1 && (auto_release = PyObject_IsTrue(PyTuple_GET_ITEM(args, 3))) < 0) return NULL;
    bool bounded = type[0] == 'b';
    sm_semaphore *s = NULL;
    CLI_CALL(c, rc, sm_semaphore_open_ex(client_, name, value, bounded, auto_release, &s));
    if (rc == SM_OK) o = (opened){s, sm_semaphore_proxy(s), free_semaphore};
  } else if (is_array) {
    if (ninit != 2) return PyErr_Format(PyExc_TypeError, "an array takes (typecode, values)");
    const char *typecode = PyUnicode_AsUTF8(PyTuple_GET_ITEM(args, 2));
    sm_value *values = NULL;
    if (!typecode || val_from_py(c, PyTuple_GET_ITEM(args, 3), false, &values) < 0) return NULL;
    sm_array *a = NULL;
    CLI_CALL(c, rc, sm_array_open_values(client_, name, typecode, values, &a));
    sm_value_free(values);
    if (rc == SM_OK) o = (opened){a, sm_array_proxy(a), free_array};
  } else {
    sm_value *init = NULL;
    if (ninit == 1 && val_from_py(c, PyTuple_GET_ITEM(args, 2), false, &init) < 0) return NULL;
    sm_proxy *p = NULL;
    sm_open_options *opts = with_opts ? sm_open_options_new() : NULL;
    if (with_opts && (!opts || sm_open_options_set_ephemeral(opts, ephemeral) != SM_OK ||
                      sm_open_options_set_ttl(opts, ttl_ms) != SM_OK)) {
      sm_open_options_free(opts);
      sm_value_free(init);
      return PyErr_NoMemory();
    }
    CLI_CALL(c, rc, sm_proxy_open_ex(client_, type, name, init, opts, &p));
    sm_open_options_free(opts);
    sm_value_free(init);
    if (rc == SM_OK) o = (opened){p, p, free_proxy};
  }
  if (rc != SM_OK) return ext_raise_last(rc);
  return prx_new(klass, c, o.typed, o.view, o.free_fn);
}

/* open_token(token, cls=None): a proxy from a "type:id" token. */
static PyObject *cli_open_token(cli_object *c, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"token", "cls", NULL};
  const char *token;
  PyObject *cls = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "s|O:open_token", kwlist, &token, &cls)) return NULL;
  if (cls != Py_None && (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &prx_type)))
    return PyErr_Format(PyExc_TypeError, "cls must be a Proxy subclass");
  sm_proxy *p = NULL;
  int rc;
  CLI_CALL(c, rc, sm_proxy_from_token(client_, token, &p));
  if (rc != SM_OK) return ext_raise_last(rc);
  PyTypeObject *klass = cls != Py_None ? (PyTypeObject *)cls : ext_proxy_class(sm_proxy_type(p));
  return prx_new(klass, c, p, p, free_proxy);
}

PyObject *prx_from_ref(cli_object *c, const sm_value *ref) {
  sm_proxy *p = NULL;
  int rc;
  CLI_CALL(c, rc, sm_proxy_from_ref(client_, ref, &p));
  if (rc != SM_OK) return ext_raise_last(rc);
  return prx_new(ext_proxy_class(sm_proxy_type(p)), c, p, p, free_proxy);
}

static PyObject *cli_get_pid(cli_object *c, void *closure) {
  (void)closure;
  if (!c->manager) Py_RETURN_NONE;
  return PyLong_FromLong((long)sm_manager_pid(c->manager));
}

static PyObject *cli_get_closed(cli_object *c, void *closure) {
  (void)closure;
  return PyBool_FromLong(c->client == NULL);
}

static PyObject *cli_get_is_manager(cli_object *c, void *closure) {
  (void)closure;
  return PyBool_FromLong(c->manager != NULL);
}

static PyObject *cli_get_live_proxies(cli_object *c, void *closure) {
  (void)closure;
  long n = 0;
  for (prx_object *p = c->proxies; p; p = p->next)
    n++;
  return PyLong_FromLong(n);
}

static int cli_traverse(cli_object *c, visitproc visit, void *arg) {
  Py_VISIT(c->authkey);
  Py_VISIT(c->dict);
  return 0;
}

static void cli_dealloc(cli_object *c) {
  PyObject_GC_UnTrack(c);
  if (c->weakrefs) PyObject_ClearWeakRefs((PyObject *)c);
  /* Every proxy holds a reference: none is left here. */
  if (c->manager) {
    sm_manager_shutdown(c->manager);
  } else if (c->client) {
    sm_client_free(c->client);
  }
  Py_XDECREF(c->url);
  Py_XDECREF(c->authkey);
  Py_XDECREF(c->dict);
  Py_TYPE(c)->tp_free((PyObject *)c);
}

static PyMethodDef cli_methods[] = {
    {"connect", (PyCFunction)(void (*)(void))cli_connect, METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "Connects to a statemgrd."},
    {"start_manager", (PyCFunction)(void (*)(void))cli_start_manager,
     METH_VARARGS | METH_KEYWORDS | METH_CLASS, "Starts a private statemgrd and connects to it."},
    {"close", (PyCFunction)cli_close, METH_NOARGS, "Frees the proxies, then the client."},
    {"ping", (PyCFunction)cli_ping, METH_NOARGS, "One round trip."},
    {"info", (PyCFunction)cli_info, METH_NOARGS, "Daemon facts as a dict."},
    {"ls", (PyCFunction)cli_ls, METH_VARARGS, "Named objects."},
    {"show", (PyCFunction)cli_show, METH_VARARGS, "One named object in detail."},
    {"ls_scan", (PyCFunction)cli_ls_scan, METH_VARARGS,
     "ls_scan(type, cursor, count): one page of ls, as (next, maps)."},
    {"slowlog_get", (PyCFunction)cli_slowlog_get, METH_VARARGS,
     "slowlog_get(count=-1): the newest slow calls, newest first."},
    {"slowlog_len", (PyCFunction)cli_slowlog_len, METH_NOARGS, "Entries in the slow-call log."},
    {"set_guard", (PyCFunction)cli_set_guard, METH_VARARGS,
     "set_guard(lock, token): fences the calling thread's later calls; None clears."},
    {"locks", (PyCFunction)cli_locks, METH_NOARGS, "The wait-for graph."},
    {"slowlog_reset", (PyCFunction)cli_slowlog_reset, METH_NOARGS, "Empties the slow-call log."},
    {"config_get", (PyCFunction)cli_config_get, METH_VARARGS,
     "config_get(key): a run-time setting; '*' gives them all."},
    {"config_set", (PyCFunction)cli_config_set, METH_VARARGS,
     "config_set(key, value): changes a run-time setting."},
    {"delete", (PyCFunction)cli_delete, METH_VARARGS, "Deletes a named object."},
    {"expire", (PyCFunction)cli_expire, METH_VARARGS, "The named object goes ms from now."},
    {"ttl", (PyCFunction)cli_ttl, METH_VARARGS, "Ms left before the named object goes, or None."},
    {"persist", (PyCFunction)cli_persist, METH_VARARGS, "Removes the named object's TTL."},
    {"txn", (PyCFunction)cli_txn, METH_VARARGS,
     "txn(conditions, then, orelse): a guarded transaction (statemgr.Txn)."},
    {"shutdown_daemon", (PyCFunction)cli_shutdown_daemon, METH_NOARGS, "Asks the daemon to stop."},
    {"open", (PyCFunction)(void (*)(void))cli_open, METH_VARARGS | METH_KEYWORDS,
     "open(type, name=None, *init, cls=None): gets or creates an object."},
    {"open_token", (PyCFunction)(void (*)(void))cli_open_token, METH_VARARGS | METH_KEYWORDS,
     "A proxy from a type:id token."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef cli_members[] = {
    {"url", T_OBJECT, offsetof(cli_object, url), READONLY, "The daemon's URL."},
    {"authkey", T_OBJECT, offsetof(cli_object, authkey), 0,
     "The key that processes started from this one connect with (bytes or None)."},
    {"no_pickle", T_BOOL, offsetof(cli_object, no_pickle), 0,
     "True: values that would need pickling are refused with TypeError."},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef cli_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {"pid", (getter)cli_get_pid, NULL, "The private manager's daemon process id, or None.", NULL},
    {"closed", (getter)cli_get_closed, NULL, "True once closed.", NULL},
    {"is_manager", (getter)cli_get_is_manager, NULL, "True for a private manager's client.", NULL},
    {"live_proxies", (getter)cli_get_live_proxies, NULL, "Proxies of this client not freed yet.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject cli_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "statemgr._statemgr.Client",
    .tp_basicsize = sizeof(cli_object),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A connection to a statemgrd (Client.connect) or a private manager "
              "(Client.start_manager).",
    .tp_dealloc = (destructor)cli_dealloc,
    .tp_traverse = (traverseproc)cli_traverse,
    .tp_methods = cli_methods,
    .tp_members = cli_members,
    .tp_getset = cli_getset,
    .tp_dictoffset = offsetof(cli_object, dict),
    .tp_weaklistoffset = offsetof(cli_object, weakrefs),
};
