/* SPDX-License-Identifier: MIT */
/* pipeline.c - the Pipeline type: many proxy calls sent in one write and
 * answered together (sm_pipeline_*), so N calls cost one round trip; and
 * PipelineView, what on(proxy) gives: [k], [k] = v and del [k] queued
 * straight from C, with no Python frame, since a pipelined call is cheap
 * enough for the Python layer's own cost to dominate it.
 *
 * _call(proxy, method, *args) queues; _callk does the same with the first
 * argument as a dict key; _execute() sends them all and returns the results
 * in order and the failures, by index, with their codes and texts. The
 * package subclasses both types (statemgr.pipeline: Pipeline, _On), names
 * its Result class, fills in the Results and turns the failures into its
 * exceptions; the with block (__enter__, __exit__) is here, so that a batch
 * of writes that all succeed makes no Python object per call. A pipeline is bound to the thread
 * that made it, as the library's is; its proxies are kept alive until it is
 * executed or dropped. */
#include "ext.h"

#include <structmember.h>

typedef struct view_object view_object;

typedef struct pipeline_object {
  PyObject_HEAD cli_object *client; /**< strong reference */
  sm_pipeline *pl;                  /**< owned */
  PyObject *keep;       /**< list: the proxies of the queued calls, alive until execute */
  unsigned long thread; /**< the thread that made it */
  view_object *view;    /**< strong: the last on() view, given again for the same proxy */
  PyObject *held;       /**< list, the package's: (index, Result) of the calls with a Result */
} pipeline_object;

/* p.on(proxy): queues calls on proxy in p. */
struct view_object {
  PyObject_HEAD pipeline_object *pipeline; /**< strong reference */
  prx_object *proxy;                       /**< strong reference */
  bool key;                                /**< a dict: [k] is a key, tuples included */
};

static int pl_check(pipeline_object *pl) {
  if (cli_check_open(pl->client) < 0) return -1;
  if (PyThread_get_thread_ident() != pl->thread) {
    PyErr_SetString(PyExc_RuntimeError, "a pipeline is used by the thread that made it only");
    return -1;
  }
  return 0;
}

static PyObject *pl_new(PyTypeObject *cls, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"client", NULL};
  cli_object *c;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O!:Pipeline", kwlist, &cli_type, &c)) return NULL;
  if (cli_check_open(c) < 0) return NULL;
  sm_pipeline *p = NULL;
  int rc;
  sm_client *client = c->client;
  c->inflight++;
  Py_BEGIN_ALLOW_THREADS rc = sm_pipeline_new(client, &p);
  Py_END_ALLOW_THREADS c->inflight--;
  if (rc != SM_OK) return ext_raise_last(rc);
  pipeline_object *pl = (pipeline_object *)cls->tp_alloc(cls, 0);
  if (!pl || !(pl->keep = PyList_New(0)) || !(pl->held = PyList_New(0))) {
    Py_XDECREF(pl);
    sm_pipeline_free(p);
    return NULL;
  }
  pl->pl = p;
  pl->client = (cli_object *)Py_NewRef((PyObject *)c);
  pl->thread = PyThread_get_thread_ident();
  return (PyObject *)pl;
}

/* Queues p.method(*args) (args[0] as a dict key when key is set), a
 * blocking call with timeout_ms when timed. Returns 0, or -1 with an
 * exception set. */
static int pl_queue(pipeline_object *pl, prx_object *p, const char *method, PyObject *const *args,
                    Py_ssize_t n, bool key, bool timed, long long timeout_ms) {
  if (pl_check(pl) < 0) return -1;
  if (!p->proxy || p->client != pl->client) {
    PyErr_SetString(PyExc_ValueError,
                    "the proxy is released or belongs to another client than the pipeline");
    return -1;
  }
  if (n > 8) {
    PyErr_SetString(PyExc_TypeError, "at most 8 arguments");
    return -1;
  }
  sm_value *vals[8];
  for (Py_ssize_t i = 0; i < n; i++) {
    if (val_from_py(pl->client, args[i], key && i == 0, &vals[i]) < 0) {
      while (i-- > 0)
        sm_value_free(vals[i]);
      return -1;
    }
  }
  int rc =
      timed ? sm_pipeline_call_timed(pl->pl, p->proxy, method, (const sm_value *const *)vals,
                                     (size_t)n, timeout_ms)
            : sm_pipeline_call(pl->pl, p->proxy, method, (const sm_value *const *)vals, (size_t)n);
  for (Py_ssize_t i = 0; i < n; i++)
    sm_value_free(vals[i]);
  if (rc != SM_OK) {
    ext_raise_last(rc);
    return -1;
  }
  /* Alive until the pipeline runs: once per run of calls on one proxy. */
  Py_ssize_t kept = PyList_GET_SIZE(pl->keep);
  if (kept && PyList_GET_ITEM(pl->keep, kept - 1) == (PyObject *)p) return 0;
  return PyList_Append(pl->keep, (PyObject *)p);
}

static PyObject *queue_call(pipeline_object *pl, PyObject *const *args, Py_ssize_t nargs, bool key,
                            bool timed) {
  Py_ssize_t first = timed ? 3 : 2;
  if (nargs < first)
    return PyErr_Format(PyExc_TypeError, timed ? "_call_timed(proxy, method, timeout_ms, *args)"
                                               : "_call(proxy, method, *args)");
  if (!PyObject_TypeCheck(args[0], &prx_type))
    return PyErr_Format(PyExc_TypeError, "a pipeline calls statemgr proxies, not %R",
                        (PyObject *)Py_TYPE(args[0]));
  const char *method = PyUnicode_AsUTF8(args[1]);
  if (!method) return NULL;
  long long timeout_ms = -1;
  if (timed && (timeout_ms = PyLong_AsLongLong(args[2])) == -1 && PyErr_Occurred()) return NULL;
  if (pl_queue(pl, (prx_object *)args[0], method, args + first, nargs - first, key, timed,
               timeout_ms) < 0)
    return NULL;
  Py_RETURN_NONE;
}

static PyObject *pl_call(pipeline_object *pl, PyObject *const *args, Py_ssize_t nargs) {
  return queue_call(pl, args, nargs, false, false);
}

static PyObject *pl_callk(pipeline_object *pl, PyObject *const *args, Py_ssize_t nargs) {
  return queue_call(pl, args, nargs, true, false);
}

static PyObject *pl_call_timed(pipeline_object *pl, PyObject *const *args, Py_ssize_t nargs) {
  return queue_call(pl, args, nargs, false, true);
}

/* Empties the pipeline: no calls, no proxies kept, no cached view (which
 * would keep a cycle through the pipeline alive). */
static void pl_empty(pipeline_object *pl) {
  sm_pipeline_reset(pl->pl);
  if (pl->keep) PyList_SetSlice(pl->keep, 0, PyList_GET_SIZE(pl->keep), NULL);
  Py_CLEAR(pl->view);
}

/* Sends the queued calls and waits for every answer; returns the
 * library's code. */
static int pl_send(pipeline_object *pl) {
  int rc;
  sm_pipeline *p = pl->pl;
  pl->client->inflight++;
  Py_BEGIN_ALLOW_THREADS rc = sm_pipeline_exec(p);
  Py_END_ALLOW_THREADS pl->client->inflight--;
  return rc;
}

/* After pl_send gave rc: (results, failures). results lists every call's
 * result in order (None for a failed call); failures is None when every
 * call succeeded, else {index: (code, text)}. The pipeline is empty again
 * afterwards. */
static PyObject *pl_collect(pipeline_object *pl, int rc) {
  sm_pipeline *p = pl->pl;
  size_t n = sm_pipeline_count(p);
  /* A failure before anything was sent (no connection) fails every call. */
  bool all_failed = rc != SM_OK && rc != SM_ECLOSED && rc != SM_EPROTO;
  const char *all_text = all_failed ? sm_last_error() : NULL;
  PyObject *results = PyList_New((Py_ssize_t)n), *failures = NULL;
  for (size_t i = 0; results && i < n; i++) {
    int st = all_failed ? rc : sm_pipeline_status(p, i);
    PyObject *item = NULL;
    const char *text = NULL;
    if (st == SM_OK) {
      sm_value *v = NULL;
      st = sm_pipeline_result(p, i, &v);
      if (st == SM_OK) {
        item = val_to_py(pl->client, v);
        sm_value_free(v);
        if (!item) goto fail;
      } else {
        text = sm_last_error();
      }
    } else {
      text = all_failed ? all_text : sm_pipeline_error(p, i);
    }
    if (st != SM_OK) {
      PyObject *key = PyLong_FromSize_t(i);
      PyObject *val = Py_BuildValue("(is)", st, text && *text ? text : sm_strerror(st));
      if ((!failures && !(failures = PyDict_New())) || !key || !val ||
          PyDict_SetItem(failures, key, val) < 0) {
        Py_XDECREF(key);
        Py_XDECREF(val);
        goto fail;
      }
      Py_DECREF(key);
      Py_DECREF(val);
      item = Py_NewRef(Py_None);
    }
    PyList_SET_ITEM(results, (Py_ssize_t)i, item);
  }
  pl_empty(pl);
  if (!results) {
    Py_XDECREF(failures);
    return NULL;
  }
  if (all_failed && n == 0) {
    Py_DECREF(results);
    Py_XDECREF(failures);
    return ext_raise_last(rc);
  }
  return Py_BuildValue("(NN)", results, failures ? failures : Py_NewRef(Py_None));
fail:
  pl_empty(pl);
  Py_XDECREF(results);
  Py_XDECREF(failures);
  return NULL;
}

/* _execute(): sends the queued calls; (results, failures) as pl_collect. */
static PyObject *pl_execute(pipeline_object *pl, PyObject *unused) {
  (void)unused;
  if (pl_check(pl) < 0) return NULL;
  return pl_collect(pl, pl_send(pl));
}

static PyObject *pl_enter(PyObject *self, PyObject *unused) {
  (void)unused;
  return Py_NewRef(self);
}

/* __exit__(exc_type, exc, tb): after an exception, drops what was queued;
 * else runs the pipeline, each Result keeping its own error. When no call
 * gave a Result (only view[k] = v and del view[k]) and every call
 * succeeded, which is the common end of a batch of writes, no result
 * object is made; otherwise the package's execute(False) settles them. */
static PyObject *pl_exit(pipeline_object *pl, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs > 0 && args[0] != Py_None) {
    pl_empty(pl);
    if (pl->held && PyList_SetSlice(pl->held, 0, PyList_GET_SIZE(pl->held), NULL) < 0) return NULL;
    Py_RETURN_FALSE;
  }
  bool plain = pl->held && PyList_CheckExact(pl->held) && PyList_GET_SIZE(pl->held) == 0 &&
               sm_pipeline_count(pl->pl) > 0;
  if (!plain) {
    PyObject *r = PyObject_CallMethod((PyObject *)pl, "execute", "O", Py_False);
    if (!r) return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE;
  }
  if (pl_check(pl) < 0) return NULL;
  int rc = pl_send(pl);
  bool all_ok = rc == SM_OK;
  for (size_t i = 0, n = sm_pipeline_count(pl->pl); all_ok && i < n; i++)
    all_ok = sm_pipeline_status(pl->pl, i) == SM_OK;
  if (all_ok) {
    pl_empty(pl);
    Py_RETURN_FALSE;
  }
  PyObject *outcome = pl_collect(pl, rc);
  if (!outcome) return NULL;
  PyObject *held = PyList_New(0);
  PyObject *r = held ? PyObject_CallMethod((PyObject *)pl, "_settle", "OOOO", held,
                                           PyTuple_GET_ITEM(outcome, 0),
                                           PyTuple_GET_ITEM(outcome, 1), Py_False)
                     : NULL;
  Py_XDECREF(held);
  Py_DECREF(outcome);
  if (!r) return NULL;
  Py_DECREF(r);
  Py_RETURN_FALSE;
}

/* _discard(): drops the queued calls unsent. */
static PyObject *pl_discard(pipeline_object *pl, PyObject *unused) {
  (void)unused;
  pl_empty(pl);
  Py_RETURN_NONE;
}

/* The class a pipeline class names in its attribute name (the package's
 * _view_class and _result_class), a subclass of base (NULL: any class);
 * dflt when it names none (NULL: an AttributeError). Borrowed; the last
 * answer is kept in *cache (strong references to both classes), so that it
 * is looked up once per process, not once per call. */
typedef struct class_cache {
  PyTypeObject *type, *cls;
} class_cache;

static PyTypeObject *pl_class_attr(PyTypeObject *type, const char *name, PyTypeObject *base,
                                   PyTypeObject *dflt, class_cache *cache) {
  if (type == cache->type) return cache->cls;
  PyTypeObject *cls = dflt;
  PyObject *attr = PyObject_GetAttrString((PyObject *)type, name);
  if (!attr) {
    if (!dflt || !PyErr_ExceptionMatches(PyExc_AttributeError)) return NULL;
    PyErr_Clear();
    Py_INCREF(cls);
  } else if (!PyType_Check(attr) || (base && !PyType_IsSubtype((PyTypeObject *)attr, base))) {
    Py_DECREF(attr);
    PyErr_Format(PyExc_TypeError, "%s must be a class%s%s", name, base ? " subclassing " : "",
                 base ? base->tp_name : "");
    return NULL;
  } else {
    cls = (PyTypeObject *)attr;
  }
  Py_INCREF(type);
  Py_XSETREF(cache->type, type);
  Py_XSETREF(cache->cls, cls);
  return cls;
}

static PyTypeObject *pl_view_class(PyTypeObject *type) {
  static class_cache cache;
  return pl_class_attr(type, "_view_class", &pipeline_view_type, &pipeline_view_type, &cache);
}

/* on(proxy): the view of proxy that queues here, the same object again
 * while it is asked for the same proxy (one allocation per batch, not per
 * call). A new view is of the class in the pipeline's class attribute
 * _view_class (the package's _On), else a PipelineView. */
static PyObject *pl_on(pipeline_object *pl, PyObject *proxy) {
  if (pl->view && (PyObject *)pl->view->proxy == proxy) return Py_NewRef((PyObject *)pl->view);
  if (!PyObject_TypeCheck(proxy, &prx_type))
    return PyErr_Format(PyExc_TypeError, "a pipeline calls statemgr proxies, not %R",
                        (PyObject *)Py_TYPE(proxy));
  PyTypeObject *cls = pl_view_class(Py_TYPE(pl));
  if (!cls) return NULL;
  view_object *v = (view_object *)cls->tp_alloc(cls, 0);
  if (!v) return NULL;
  v->pipeline = (pipeline_object *)Py_NewRef((PyObject *)pl);
  v->proxy = (prx_object *)Py_NewRef(proxy);
  v->key = PyObject_TypeCheck(proxy, ext_proxy_class("dict")) != 0;
  Py_XSETREF(pl->view, (view_object *)Py_NewRef((PyObject *)v));
  return (PyObject *)v;
}

static PyObject *pl_len(pipeline_object *pl, PyObject *unused) {
  (void)unused;
  return PyLong_FromSize_t(sm_pipeline_count(pl->pl));
}

static int pl_traverse(pipeline_object *pl, visitproc visit, void *arg) {
  Py_VISIT(pl->keep);
  Py_VISIT(pl->held);
  Py_VISIT((PyObject *)pl->view);
  Py_VISIT((PyObject *)pl->client);
  return 0;
}

static int pl_clear(pipeline_object *pl) {
  Py_CLEAR(pl->keep);
  Py_CLEAR(pl->held);
  Py_CLEAR(pl->view);
  return 0;
}

static void pl_dealloc(pipeline_object *pl) {
  PyObject_GC_UnTrack(pl);
  sm_pipeline_free(pl->pl); /* before the proxies it names */
  pl_clear(pl);
  Py_CLEAR(pl->client);
  Py_TYPE(pl)->tp_free((PyObject *)pl);
}

static PyMemberDef pl_members[] = {
    {"_held", T_OBJECT, offsetof(pipeline_object, held), 0,
     "The package's (index, Result) of the queued calls that gave a Result."},
    {NULL, 0, 0, 0, NULL},
};

static PyMethodDef pl_methods[] = {
    {"_call", (PyCFunction)(void (*)(void))pl_call, METH_FASTCALL,
     "_call(proxy, method, *args): queues a call."},
    {"_callk", (PyCFunction)(void (*)(void))pl_callk, METH_FASTCALL,
     "_callk(proxy, method, key, *args): queues a call whose first argument is a dict key."},
    {"_call_timed", (PyCFunction)(void (*)(void))pl_call_timed, METH_FASTCALL,
     "_call_timed(proxy, method, timeout_ms, *args): queues a blocking call."},
    {"_execute", (PyCFunction)pl_execute, METH_NOARGS,
     "Sends every queued call; returns (results, None or {index: (code, text)})."},
    {"_pending", (PyCFunction)pl_len, METH_NOARGS, "The number of queued calls."},
    {"_discard", (PyCFunction)pl_discard, METH_NOARGS, "Drops the queued calls unsent."},
    {"on", (PyCFunction)pl_on, METH_O, "on(proxy): a view of proxy whose calls are queued here."},
    {"__enter__", (PyCFunction)pl_enter, METH_NOARGS, "The pipeline itself."},
    {"__exit__", (PyCFunction)(void (*)(void))pl_exit, METH_FASTCALL,
     "Runs the pipeline (drops it after an exception); each Result keeps its error."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject pipeline_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "statemgr._statemgr.Pipeline",
    .tp_basicsize = sizeof(pipeline_object),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Calls sent in one write and answered together.",
    .tp_new = pl_new,
    .tp_dealloc = (destructor)pl_dealloc,
    .tp_traverse = (traverseproc)pl_traverse,
    .tp_clear = (inquiry)pl_clear,
    .tp_methods = pl_methods,
    .tp_members = pl_members,
};

/* ---- PipelineView ---- */

/* view[k] queues get(k) and gives its Result: an instance of the
 * pipeline class's _result_class, held in the pipeline's _held with the
 * call's index for the package to fill in. */
static PyObject *view_subscript(view_object *v, PyObject *key) {
  static class_cache cache;
  pipeline_object *pl = v->pipeline;
  PyTypeObject *cls = pl_class_attr(Py_TYPE(pl), "_result_class", NULL, NULL, &cache);
  if (!cls) return NULL;
  if (!pl->held || !PyList_Check(pl->held))
    return PyErr_Format(PyExc_TypeError, "the pipeline's _held is not a list");
  if (pl_queue(pl, v->proxy, "get", &key, 1, v->key, false, -1) < 0) return NULL;
  PyObject *r = PyObject_CallNoArgs((PyObject *)cls);
  PyObject *held = r ? Py_BuildValue("(nO)", (Py_ssize_t)sm_pipeline_count(pl->pl) - 1, r) : NULL;
  int rc = held ? PyList_Append(pl->held, held) : -1;
  Py_XDECREF(held);
  if (rc < 0) Py_CLEAR(r);
  return r;
}

/* view[k] = v queues set(k, v); del view[k] queues del(k). */
static int view_ass_subscript(view_object *v, PyObject *key, PyObject *value) {
  PyObject *args[2] = {key, value};
  return pl_queue(v->pipeline, v->proxy, value ? "set" : "del", args, value ? 2 : 1, v->key, false,
                  -1);
}

static int view_traverse(view_object *v, visitproc visit, void *arg) {
  Py_VISIT((PyObject *)v->pipeline);
  Py_VISIT((PyObject *)v->proxy);
  return 0;
}

static int view_clear(view_object *v) {
  Py_CLEAR(v->pipeline);
  Py_CLEAR(v->proxy);
  return 0;
}

static void view_dealloc(view_object *v) {
  PyObject_GC_UnTrack(v);
  view_clear(v);
  Py_TYPE(v)->tp_free((PyObject *)v);
}

static PyMemberDef view_members[] = {
    {"pipeline", T_OBJECT, offsetof(view_object, pipeline), READONLY, "The pipeline."},
    {"proxy", T_OBJECT, offsetof(view_object, proxy), READONLY, "The proxy."},
    {NULL, 0, 0, 0, NULL},
};

static PyMappingMethods view_mapping = {
    .mp_subscript = (binaryfunc)view_subscript,
    .mp_ass_subscript = (objobjargproc)view_ass_subscript,
};

PyTypeObject pipeline_view_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "statemgr._statemgr.PipelineView",
    .tp_basicsize = sizeof(view_object),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Pipeline.on(proxy): [k], [k] = v and del [k] queue get, set and del.",
    .tp_dealloc = (destructor)view_dealloc,
    .tp_traverse = (traverseproc)view_traverse,
    .tp_clear = (inquiry)view_clear,
    .tp_as_mapping = &view_mapping,
    .tp_members = view_members,
};
