/* SPDX-License-Identifier: MIT */
/* txn.c - Client.txn(conditions, then, orelse): a guarded transaction
 * (sm_txn_*) from Python sequences, for statemgr.Txn above it.
 *
 * A condition is a tuple (kind, proxy, item...), a call (proxy, method,
 * arg...). Proxies name the objects; the rest converts as any argument
 * does (a dict key as a key: the item right after the proxy of a key
 * condition, the first argument of a dict method that takes a key). The answer is
 * (succeeded, [(code, value), ...]): code 0 with the call's result, or its
 * SM_E* code with the daemon's text. */
#include "ext.h"

#include <string.h>

/* The library proxy of Python proxy obj; NULL with TypeError set. */
static sm_proxy *proxy_of(PyObject *obj) {
  if (!PyObject_TypeCheck(obj, &prx_type) || !((prx_object *)obj)->proxy) {
    PyErr_Format(PyExc_TypeError, "a transaction names its objects by live proxies, not %.80s",
                 Py_TYPE(obj)->tp_name);
    return NULL;
  }
  return ((prx_object *)obj)->proxy;
}

/* Converts items[from..n) into vals[0..); the item at key (relative, -1:
 * none) as a dict key. Returns the count, or -1 with an exception set. */
static Py_ssize_t convert(cli_object *c, PyObject *const *items, Py_ssize_t from, Py_ssize_t n,
                          Py_ssize_t key, sm_value **vals) {
  for (Py_ssize_t i = from; i < n; i++) {
    if (val_from_py(c, items[i], i - from == key, &vals[i - from]) < 0) {
      for (Py_ssize_t j = from; j < i; j++)
        sm_value_free(vals[j - from]);
      return -1;
    }
  }
  return n - from;
}

static void free_vals(sm_value **vals, Py_ssize_t n) {
  for (Py_ssize_t i = 0; i < n; i++)
    sm_value_free(vals[i]);
}

#define TXN_MAX_ITEMS 64

/* Whether method on an object of type takes a dict key first (as the
 * package's pipeline's _KEY_METHODS says). */
static bool takes_key(const char *type, const char *method) {
  static const char *const key_methods[] = {"get", "set",        "del",           "contains",
                                            "pop", "setdefault", "set_if_absent", "cas"};
  if (strcmp(type, "dict") != 0) return false;
  for (size_t i = 0; i < sizeof key_methods / sizeof key_methods[0]; i++)
    if (strcmp(method, key_methods[i]) == 0) return true;
  return false;
}

/* Adds every condition of seq to t; 0, or -1 with an exception set. */
static int add_conditions(cli_object *c, sm_txn *t, PyObject *seq) {
  PyObject *fast = PySequence_Fast(seq, "the conditions must be a sequence");
  if (!fast) return -1;
  int rc = 0;
  for (Py_ssize_t i = 0; rc == 0 && i < PySequence_Fast_GET_SIZE(fast); i++) {
    PyObject *cond = PySequence_Fast(PySequence_Fast_GET_ITEM(fast, i),
                                     "a condition is a tuple (kind, proxy, item...)");
    if (!cond) {
      rc = -1;
      break;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(cond);
    PyObject *const *it = PySequence_Fast_ITEMS(cond);
    const char *kind = n >= 2 ? PyUnicode_AsUTF8(it[0]) : NULL;
    sm_proxy *p = kind ? proxy_of(it[1]) : NULL;
    sm_value *vals[TXN_MAX_ITEMS];
    Py_ssize_t nv = -1;
    if (!kind && !PyErr_Occurred())
      PyErr_SetString(PyExc_TypeError, "a condition is a tuple (kind, proxy, item...)");
    else if (p && n - 2 > TXN_MAX_ITEMS)
      PyErr_SetString(PyExc_ValueError, "too many items in a condition");
    else if (p) {
      bool keyed = strcmp(kind, "exists") == 0 || strcmp(kind, "absent") == 0 ||
                   strcmp(kind, "equals") == 0 || strcmp(kind, "compare") == 0;
      nv = convert(c, it, 2, n, keyed ? 0 : -1, vals);
    }
    if (nv >= 0) {
      int e = sm_txn_if(t, kind, p, (const sm_value *const *)vals, (size_t)nv);
      free_vals(vals, nv);
      if (e != SM_OK) ext_raise_last(e);
    }
    if (PyErr_Occurred()) rc = -1;
    Py_DECREF(cond);
  }
  Py_DECREF(fast);
  return rc;
}

/* Adds every call of seq to t's then-list (then) or else-list. */
static int add_calls(cli_object *c, sm_txn *t, PyObject *seq, bool then) {
  PyObject *fast = PySequence_Fast(seq, "the calls must be a sequence");
  if (!fast) return -1;
  int rc = 0;
  for (Py_ssize_t i = 0; rc == 0 && i < PySequence_Fast_GET_SIZE(fast); i++) {
    PyObject *call = PySequence_Fast(PySequence_Fast_GET_ITEM(fast, i),
                                     "a call is a tuple (proxy, method, arg...)");
    if (!call) {
      rc = -1;
      break;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(call);
    PyObject *const *it = PySequence_Fast_ITEMS(call);
    sm_proxy *p = n >= 2 ? proxy_of(it[0]) : NULL;
    const char *method = p ? PyUnicode_AsUTF8(it[1]) : NULL;
    sm_value *vals[TXN_MAX_ITEMS];
    Py_ssize_t nv = -1;
    if (n < 2 && !PyErr_Occurred())
      PyErr_SetString(PyExc_TypeError, "a call is a tuple (proxy, method, arg...)");
    else if (method && n - 2 > TXN_MAX_ITEMS)
      PyErr_SetString(PyExc_ValueError, "too many arguments in a call");
    else if (method)
      nv = convert(c, it, 2, n, takes_key(sm_proxy_type(p), method) ? 0 : -1, vals);
    if (nv >= 0) {
      const sm_value *const *a = (const sm_value *const *)vals;
      int e = then ? sm_txn_then(t, p, method, a, (size_t)nv)
                   : sm_txn_else(t, p, method, a, (size_t)nv);
      free_vals(vals, nv);
      if (e != SM_OK) ext_raise_last(e);
    }
    if (PyErr_Occurred()) rc = -1;
    Py_DECREF(call);
  }
  Py_DECREF(fast);
  return rc;
}

/* (succeeded, [(code, value or text), ...]) of a committed t. */
static PyObject *outcome(cli_object *c, sm_txn *t, bool ok) {
  size_t n = sm_txn_count(t);
  PyObject *results = PyList_New((Py_ssize_t)n);
  for (size_t i = 0; results && i < n; i++) {
    const sm_value *v = NULL;
    int code = sm_txn_result(t, i, &v);
    PyObject *val = v ? val_to_py(c, v) : (Py_INCREF(Py_None), Py_None);
    PyObject *pair = val ? Py_BuildValue("(iN)", code, val) : NULL;
    if (!pair) {
      Py_CLEAR(results);
      break;
    }
    PyList_SET_ITEM(results, (Py_ssize_t)i, pair);
  }
  return results ? Py_BuildValue("(ON)", ok ? Py_True : Py_False, results) : NULL;
}

PyObject *cli_txn(cli_object *c, PyObject *args) {
  PyObject *conds, *then, *orelse;
  if (!PyArg_ParseTuple(args, "OOO:txn", &conds, &then, &orelse)) return NULL;
  if (cli_check_open(c) < 0) return NULL;
  sm_txn *t = NULL;
  int rc = sm_txn_new(c->client, &t);
  if (rc != SM_OK) return ext_raise_last(rc);
  PyObject *r = NULL;
  if (add_conditions(c, t, conds) == 0 && add_calls(c, t, then, true) == 0 &&
      add_calls(c, t, orelse, false) == 0) {
    bool ok = false;
    c->inflight++;
    Py_BEGIN_ALLOW_THREADS rc = sm_txn_commit(t, &ok);
    Py_END_ALLOW_THREADS c->inflight--;
    r = rc == SM_OK ? outcome(c, t, ok) : ext_raise_last(rc);
  }
  sm_txn_free(t);
  return r;
}
