/* SPDX-License-Identifier: MIT */
/* proxy.c - the Proxy base type: one library proxy (an sm_proxy view of a
 * typed sm_dict, sm_queue...), and _call / _callk / _call_timed, which
 * forward a daemon method by name with the GIL released.
 *
 * The Python classes of the package (DictProxy, ListProxy, LockProxy...)
 * subclass Proxy and give each Python method its daemon method; the daemon
 * methods and their arguments are those of docs/protocol.md. Proxies are
 * made only by Client.open / open_token and by reading a ref, never by
 * calling the class. */
#include "ext.h"

#include <structmember.h>

PyObject *prx_new(PyTypeObject *cls, cli_object *client, void *typed, sm_proxy *view,
                  void (*free_fn)(void *)) {
  prx_object *p = (prx_object *)cls->tp_alloc(cls, 0);
  if (!p) {
    free_fn(typed);
    return NULL;
  }
  Py_INCREF(client);
  p->client = client;
  p->typed = typed;
  p->proxy = view;
  p->free_fn = free_fn;
  cli_link(client, p);
  return (PyObject *)p;
}

void prx_release(prx_object *p) {
  if (!p->proxy) return;
  void *typed = p->typed;
  p->proxy = NULL;
  p->typed = NULL;
  cli_unlink(p);
  p->free_fn(typed); /* gives back this process's reference to an anonymous object */
}

static int prx_check(prx_object *p) {
  if (p->proxy && p->client->client) return 0;
  ext_raise(SM_ECLOSED, p->proxy ? "this proxy's client is closed (its manager was shut down)"
                                 : "this proxy was released");
  return -1;
}

/* Converts args[first..nargs) to values (the first as a key when key is
 * set) into vals. Returns the count, or -1 with an exception set. */
#define MAX_ARGS 8
static int convert_args(cli_object *c, PyObject *const *args, Py_ssize_t first, Py_ssize_t nargs,
                        bool key, sm_value **vals) {
  Py_ssize_t n = nargs - first;
  if (n > MAX_ARGS) {
    PyErr_Format(PyExc_TypeError, "at most %d arguments", MAX_ARGS);
    return -1;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    if (val_from_py(c, args[first + i], key && i == 0, &vals[i]) < 0) {
      while (i-- > 0)
        sm_value_free(vals[i]);
      return -1;
    }
  }
  return (int)n;
}

/* Calls method with the converted arguments; steals vals. */
static PyObject *invoke(prx_object *p, const char *method, sm_value **vals, int n, bool timed,
                        int64_t timeout_ms) {
  sm_value *result = NULL;
  sm_proxy *proxy = p->proxy;
  cli_object *c = p->client;
  int rc;
  p->busy++;
  c->inflight++;
  Py_BEGIN_ALLOW_THREADS if (timed) rc =
      sm_call_timed(proxy, method, (const sm_value *const *)vals, (size_t)n, timeout_ms, &result);
  else rc = sm_call(proxy, method, (const sm_value *const *)vals, (size_t)n, &result);
  Py_END_ALLOW_THREADS for (int i = 0; i < n; i++) sm_value_free(vals[i]);
  p->busy--;
  /* The client was closed while this call ran: free the proxy now, before
   * close() may free the client. */
  if (!c->client && !p->busy) prx_release(p);
  c->inflight--;
  if (rc != SM_OK) return ext_raise_last(rc);
  PyObject *r = val_to_py(c, result);
  sm_value_free(result);
  return r;
}

static const char *method_name(PyObject *const *args, Py_ssize_t nargs) {
  if (nargs < 1) {
    PyErr_SetString(PyExc_TypeError, "a method name is needed");
    return NULL;
  }
  return PyUnicode_AsUTF8(args[0]);
}

/* _call(method, *args): the daemon's result as a Python object. */
static PyObject *prx_call(prx_object *p, PyObject *const *args, Py_ssize_t nargs) {
  const char *method = method_name(args, nargs);
  if (!method || prx_check(p) < 0) return NULL;
  sm_value *vals[MAX_ARGS];
  int n = convert_args(p->client, args, 1, nargs, false, vals);
  return n < 0 ? NULL : invoke(p, method, vals, n, false, -1);
}

/* _callk(method, key, *args): as _call, the first argument being a dict
 * key (so a tuple is a key, not a list). */
static PyObject *prx_callk(prx_object *p, PyObject *const *args, Py_ssize_t nargs) {
  const char *method = method_name(args, nargs);
  if (!method || prx_check(p) < 0) return NULL;
  sm_value *vals[MAX_ARGS];
  int n = convert_args(p->client, args, 1, nargs, true, vals);
  return n < 0 ? NULL : invoke(p, method, vals, n, false, -1);
}

/* _call_timed(method, timeout_ms, *args): a blocking method with its
 * deadline (negative: none, 0: do not block). */
static PyObject *prx_call_timed(prx_object *p, PyObject *const *args, Py_ssize_t nargs) {
  const char *method = method_name(args, nargs);
  if (!method) return NULL;
  if (nargs < 2) return PyErr_Format(PyExc_TypeError, "_call_timed(method, timeout_ms, *args)");
  long long timeout_ms = PyLong_AsLongLong(args[1]);
  if (timeout_ms == -1 && PyErr_Occurred()) return NULL;
  if (prx_check(p) < 0) return NULL;
  sm_value *vals[MAX_ARGS];
  int n = convert_args(p->client, args, 2, nargs, false, vals);
  return n < 0 ? NULL : invoke(p, method, vals, n, true, (int64_t)timeout_ms);
}

/* _acquire(timeout_ms): an acquire with its deadline: (acquired, token,
 * owner_dead); a deadline that passes is (False, 0, False). A grant whose
 * last holder died (policy break) is acquired, with owner_dead True. */
static PyObject *prx_acquire(prx_object *p, PyObject *arg) {
  long long timeout_ms = PyLong_AsLongLong(arg);
  if (timeout_ms == -1 && PyErr_Occurred()) return NULL;
  if (prx_check(p) < 0) return NULL;
  sm_proxy *proxy = p->proxy;
  cli_object *c = p->client;
  sm_value *result = NULL;
  uint64_t token = 0;
  int rc;
  p->busy++;
  c->inflight++;
  Py_BEGIN_ALLOW_THREADS rc =
      sm_call_timed(proxy, "acquire", NULL, 0, (int64_t)timeout_ms, &result);
  token = sm_client_last_token(c->client);
  Py_END_ALLOW_THREADS sm_value_free(result);
  p->busy--;
  if (!c->client && !p->busy) prx_release(p);
  c->inflight--;
  if (rc == SM_ETIMEOUT) return Py_BuildValue("(OKO)", Py_False, 0ULL, Py_False);
  if (rc != SM_OK && rc != SM_EOWNERDEAD) return ext_raise_last(rc);
  return Py_BuildValue("(OKO)", Py_True, (unsigned long long)token,
                       rc == SM_EOWNERDEAD ? Py_True : Py_False);
}

/* _set_guard(guard, token): every later call through this proxy runs only
 * while guard's grant token is token (guard None: no guard). */
static PyObject *prx_set_guard(prx_object *p, PyObject *args) {
  PyObject *guard;
  unsigned long long token = 0;
  if (!PyArg_ParseTuple(args, "O|K:_set_guard", &guard, &token)) return NULL;
  if (prx_check(p) < 0) return NULL;
  sm_proxy *g = NULL;
  if (guard != Py_None) {
    if (!PyObject_TypeCheck(guard, &prx_type))
      return PyErr_Format(PyExc_TypeError, "a guard is a lock, rlock or semaphore proxy");
    if (prx_check((prx_object *)guard) < 0) return NULL;
    g = ((prx_object *)guard)->proxy;
  }
  int rc;
  Py_BEGIN_ALLOW_THREADS rc = sm_proxy_set_guard(p->proxy, g, (uint64_t)token);
  Py_END_ALLOW_THREADS if (rc != SM_OK) return ext_raise_last(rc);
  Py_RETURN_NONE;
}

/* _release(): gives the proxy back now (later calls raise). */
static PyObject *prx_release_method(prx_object *p, PyObject *unused) {
  (void)unused;
  if (p->busy) return PyErr_Format(PyExc_RuntimeError, "the proxy is in use by another thread");
  prx_release(p);
  Py_RETURN_NONE;
}

static PyObject *prx_get_id(prx_object *p, void *closure) {
  (void)closure;
  if (!p->proxy) Py_RETURN_NONE;
  return PyLong_FromUnsignedLongLong(sm_proxy_id(p->proxy));
}

static PyObject *prx_get_type(prx_object *p, void *closure) {
  (void)closure;
  if (!p->proxy) Py_RETURN_NONE;
  return PyUnicode_FromString(sm_proxy_type(p->proxy));
}

static PyObject *prx_get_name(prx_object *p, void *closure) {
  (void)closure;
  const char *name = p->proxy ? sm_proxy_name(p->proxy) : NULL;
  if (!name) Py_RETURN_NONE;
  return PyUnicode_FromString(name);
}

static PyObject *prx_get_token(prx_object *p, void *closure) {
  (void)closure;
  if (!p->proxy) Py_RETURN_NONE;
  char *t = sm_proxy_token(p->proxy);
  if (!t) return PyErr_NoMemory();
  PyObject *r = PyUnicode_FromString(t);
  sm_free(t);
  return r;
}

static PyObject *prx_get_client(prx_object *p, void *closure) {
  (void)closure;
  return Py_NewRef((PyObject *)p->client);
}

static PyObject *prx_get_released(prx_object *p, void *closure) {
  (void)closure;
  return PyBool_FromLong(p->proxy == NULL || p->client->client == NULL);
}

static int prx_traverse(prx_object *p, visitproc visit, void *arg) {
  Py_VISIT(p->dict);
  Py_VISIT((PyObject *)p->client);
  return 0;
}

static int prx_clear(prx_object *p) {
  Py_CLEAR(p->dict);
  return 0;
}

/* Python subclasses' instances come here through subtype_dealloc, which
 * releases the heap type itself. */
static void prx_dealloc(prx_object *p) {
  PyTypeObject *tp = Py_TYPE(p);
  PyObject_GC_UnTrack(p);
  if (p->weakrefs) PyObject_ClearWeakRefs((PyObject *)p);
  if (p->proxy && !p->busy) prx_release(p);
  prx_clear(p);
  Py_CLEAR(p->client);
  tp->tp_free((PyObject *)p);
}

static PyMethodDef prx_methods[] = {
    {"_call", (PyCFunction)(void (*)(void))prx_call, METH_FASTCALL,
     "_call(method, *args): calls a daemon method."},
    {"_callk", (PyCFunction)(void (*)(void))prx_callk, METH_FASTCALL,
     "_callk(method, key, *args): as _call, the first argument a dict key."},
    {"_call_timed", (PyCFunction)(void (*)(void))prx_call_timed, METH_FASTCALL,
     "_call_timed(method, timeout_ms, *args): a blocking method with a deadline."},
    {"_release", (PyCFunction)prx_release_method, METH_NOARGS, "Gives the proxy back now."},
    {"_acquire", (PyCFunction)prx_acquire, METH_O,
     "_acquire(timeout_ms): (acquired, fencing token, owner_dead)."},
    {"_set_guard", (PyCFunction)prx_set_guard, METH_VARARGS,
     "_set_guard(guard, token): guards every later call through this proxy."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef prx_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {"_id", (getter)prx_get_id, NULL, "The daemon's object id.", NULL},
    {"_type", (getter)prx_get_type, NULL, "The daemon type name.", NULL},
    {"_name", (getter)prx_get_name, NULL, "The object's name (None: anonymous).", NULL},
    {"_token", (getter)prx_get_token, NULL, "A type:id token.", NULL},
    {"_client", (getter)prx_get_client, NULL, "The Client the proxy belongs to.", NULL},
    {"_released", (getter)prx_get_released, NULL, "True once released or its client closed.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject prx_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "statemgr._statemgr.Proxy",
    .tp_basicsize = sizeof(prx_object),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A proxy of one object in statemgrd.",
    .tp_dealloc = (destructor)prx_dealloc,
    .tp_traverse = (traverseproc)prx_traverse,
    .tp_clear = (inquiry)prx_clear,
    .tp_methods = prx_methods,
    .tp_getset = prx_getset,
    .tp_dictoffset = offsetof(prx_object, dict),
    .tp_weaklistoffset = offsetof(prx_object, weakrefs),
};
