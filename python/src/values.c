/* SPDX-License-Identifier: MIT */
/* values.c - Python objects to sm_values and back.
 *
 * None, bool, int (64 bits), float, str, bytes, list and dict travel as the
 * statemgr values of the same kind, so C programs read them as they are; a
 * tuple travels as a list (and comes back as one), a proxy as a ref (a
 * nested proxy, which comes back as a proxy). Anything else (a set, an
 * instance of a class, an int beyond 64 bits, a str with a NUL inside) is
 * pickled and stored as bytes that start with PICKLE_MARK, and is unpickled
 * when read back.
 *
 * Dict keys (as_key) must be hashable, as in Python: scalars and proxies go
 * as themselves; a tuple, a frozenset or another hashable object is pickled
 * with the mark. A tuple's numbers are first made canonical (True and 1.0
 * become 1), so that (1, 2) and (1.0, 2) name the same key, as they do in a
 * Python dict. */
#include "ext.h"

#include <string.h>

/* The prefix of a pickled object stored as bytes. */
static const char PICKLE_MARK[] = "\0statemgr:pickle\0";
#define PICKLE_MARK_LEN (sizeof PICKLE_MARK - 1)

static PyObject *pickle_dumps, *pickle_loads;

int val_init(void) {
  PyObject *pickle = PyImport_ImportModule("pickle");
  if (!pickle) return -1;
  pickle_dumps = PyObject_GetAttrString(pickle, "dumps");
  pickle_loads = PyObject_GetAttrString(pickle, "loads");
  Py_DECREF(pickle);
  return pickle_dumps && pickle_loads ? 0 : -1;
}

static int nomem(void) {
  PyErr_NoMemory();
  return -1;
}

/* The marked pickle of obj as an SM_BYTES value. */
static int pickled(PyObject *obj, sm_value **out) {
  PyObject *data = PyObject_CallFunction(pickle_dumps, "Oi", obj, 4);
  if (!data) return -1;
  char *p;
  Py_ssize_t n;
  if (PyBytes_AsStringAndSize(data, &p, &n) < 0) {
    Py_DECREF(data);
    return -1;
  }
  size_t total = PICKLE_MARK_LEN + (size_t)n;
  char *buf = PyMem_Malloc(total);
  if (!buf) {
    Py_DECREF(data);
    return nomem();
  }
  memcpy(buf, PICKLE_MARK, PICKLE_MARK_LEN);
  memcpy(buf + PICKLE_MARK_LEN, p, (size_t)n);
  Py_DECREF(data);
  *out = sm_value_bytes(buf, total);
  PyMem_Free(buf);
  return *out ? 0 : nomem();
}

/* A new reference to obj with its numbers made canonical for hashing as a
 * key: bools and integral floats become ints, recursively in tuples. */
static PyObject *canonical_key(PyObject *obj) {
  if (PyBool_Check(obj)) return PyLong_FromLong(obj == Py_True);
  if (PyFloat_Check(obj)) {
    double d = PyFloat_AS_DOUBLE(obj);
    if (d == (double)(long long)d && d > -9.2e18 && d < 9.2e18)
      return PyLong_FromLongLong((long long)d);
  }
  if (PyTuple_Check(obj)) {
    Py_ssize_t n = PyTuple_GET_SIZE(obj);
    PyObject *t = PyTuple_New(n);
    for (Py_ssize_t i = 0; t && i < n; i++) {
      PyObject *e = canonical_key(PyTuple_GET_ITEM(obj, i));
      if (!e)
        Py_CLEAR(t);
      else
        PyTuple_SET_ITEM(t, i, e);
    }
    return t;
  }
  Py_INCREF(obj);
  return obj;
}

static int from_py(PyObject *obj, bool as_key, bool can_pickle, sm_value **out);

/* The elements of a list or tuple as an SM_LIST. */
static int seq_value(PyObject *seq, bool can_pickle, sm_value **out) {
  Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  sm_value *list = sm_value_list();
  if (!list) return nomem();
  for (Py_ssize_t i = 0; i < n; i++) {
    sm_value *item;
    if (from_py(PySequence_Fast_GET_ITEM(seq, i), false, can_pickle, &item) < 0) {
      sm_value_free(list);
      return -1;
    }
    if (sm_value_list_append(list, item) != SM_OK) { /* takes item */
      sm_value_free(list);
      return nomem();
    }
  }
  *out = list;
  return 0;
}

static int dict_value(PyObject *dict, bool can_pickle, sm_value **out) {
  sm_value *map = sm_value_map();
  if (!map) return nomem();
  PyObject *k, *v;
  Py_ssize_t pos = 0;
  while (PyDict_Next(dict, &pos, &k, &v)) {
    sm_value *key, *val;
    if (from_py(k, true, can_pickle, &key) < 0) {
      sm_value_free(map);
      return -1;
    }
    if (from_py(v, false, can_pickle, &val) < 0) {
      sm_value_free(key);
      sm_value_free(map);
      return -1;
    }
    int rc = sm_value_map_set(map, key, val); /* takes both */
    if (rc != SM_OK) {
      sm_value_free(map);
      if (rc == SM_ENOMEM) return nomem();
      ext_raise_last(rc);
      return -1;
    }
  }
  *out = map;
  return 0;
}

/* What cannot travel as a value when pickling is off (the xmlrpclib
 * serializer of a manager): a TypeError naming it. */
static int not_native(PyObject *obj) {
  PyErr_Format(PyExc_TypeError,
               "cannot store %R: only None, bool, int (64 bits), float, str, bytes, list, tuple, "
               "dict and proxies travel when pickling is off (serializer='xmlrpclib')",
               (PyObject *)Py_TYPE(obj));
  return -1;
}

static int from_py(PyObject *obj, bool as_key, bool can_pickle, sm_value **out) {
  if (obj == Py_None) {
    *out = sm_value_nil();
  } else if (PyBool_Check(obj)) {
    *out = sm_value_bool(obj == Py_True);
  } else if (PyLong_Check(obj)) {
    int overflow = 0;
    long long i = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (i == -1 && PyErr_Occurred()) return -1;
    if (overflow) return can_pickle ? pickled(obj, out) : not_native(obj); /* beyond 64 bits */
    *out = sm_value_int((int64_t)i);
  } else if (PyFloat_Check(obj)) {
    *out = sm_value_double(PyFloat_AS_DOUBLE(obj));
  } else if (PyUnicode_Check(obj)) {
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(obj, &n);
    if (!s) return -1;
    if (memchr(s, '\0', (size_t)n)) /* the daemon refuses NULs in str */
      return can_pickle ? pickled(obj, out) : not_native(obj);
    *out = sm_value_strn(s, (size_t)n);
  } else if (PyBytes_Check(obj)) {
    *out = sm_value_bytes(PyBytes_AS_STRING(obj), (size_t)PyBytes_GET_SIZE(obj));
  } else if (PyObject_TypeCheck(obj, &prx_type)) {
    prx_object *p = (prx_object *)obj;
    if (!p->proxy) {
      PyErr_SetString(PyExc_ValueError, "a released proxy cannot be stored");
      return -1;
    }
    *out = sm_proxy_ref(p->proxy);
  } else if (as_key) {
    if (PyObject_Hash(obj) == -1) return -1; /* unhashable, as Python says */
    if (!can_pickle) return not_native(obj);
    PyObject *canon = canonical_key(obj);
    if (!canon) return -1;
    int rc = pickled(canon, out);
    Py_DECREF(canon);
    return rc;
  } else if (PyList_Check(obj) || PyTuple_Check(obj)) {
    if (Py_EnterRecursiveCall(" while converting a list to a statemgr value")) return -1;
    PyObject *seq = PySequence_Fast(obj, "not a sequence");
    int rc = seq ? seq_value(seq, can_pickle, out) : -1;
    Py_XDECREF(seq);
    Py_LeaveRecursiveCall();
    return rc;
  } else if (PyDict_Check(obj)) {
    if (Py_EnterRecursiveCall(" while converting a dict to a statemgr value")) return -1;
    int rc = dict_value(obj, can_pickle, out);
    Py_LeaveRecursiveCall();
    return rc;
  } else {
    return can_pickle ? pickled(obj, out) : not_native(obj);
  }
  return *out ? 0 : nomem();
}

int val_from_py(cli_object *client, PyObject *obj, bool as_key, sm_value **out) {
  return from_py(obj, as_key, !client->no_pickle, out);
}

PyObject *val_to_py(cli_object *client, const sm_value *v) {
  size_t len;
  switch (sm_value_type(v)) {
  case SM_NIL: Py_RETURN_NONE;
  case SM_BOOL: return PyBool_FromLong(sm_value_as_bool(v));
  case SM_INT: return PyLong_FromLongLong(sm_value_as_int(v));
  case SM_DOUBLE: return PyFloat_FromDouble(sm_value_as_double(v));
  case SM_STR: {
    const char *s = sm_value_as_str(v, &len);
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)len, "surrogateescape");
  }
  case SM_BYTES: {
    const char *p = sm_value_as_bytes(v, &len);
    if (len >= PICKLE_MARK_LEN && memcmp(p, PICKLE_MARK, PICKLE_MARK_LEN) == 0) {
      PyObject *data =
          PyBytes_FromStringAndSize(p + PICKLE_MARK_LEN, (Py_ssize_t)(len - PICKLE_MARK_LEN));
      if (!data) return NULL;
      PyObject *obj = PyObject_CallOneArg(pickle_loads, data);
      Py_DECREF(data);
      return obj;
    }
    return PyBytes_FromStringAndSize(p, (Py_ssize_t)len);
  }
  case SM_LIST: {
    size_t n = sm_value_len(v);
    if (Py_EnterRecursiveCall(" while converting a statemgr list")) return NULL;
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
      PyObject *item = val_to_py(client, sm_value_list_at(v, i));
      if (!item)
        Py_CLEAR(list);
      else
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    Py_LeaveRecursiveCall();
    return list;
  }
  case SM_MAP: {
    size_t n = sm_value_len(v);
    if (Py_EnterRecursiveCall(" while converting a statemgr map")) return NULL;
    PyObject *dict = PyDict_New();
    for (size_t i = 0; dict && i < n; i++) {
      PyObject *key = val_to_py(client, sm_value_map_key_at(v, i));
      PyObject *val = key ? val_to_py(client, sm_value_map_value_at(v, i)) : NULL;
      if (!val || PyDict_SetItem(dict, key, val) < 0) Py_CLEAR(dict);
      Py_XDECREF(key);
      Py_XDECREF(val);
    }
    Py_LeaveRecursiveCall();
    return dict;
  }
  case SM_REF: return prx_from_ref(client, v);
  }
  return PyErr_Format(PyExc_ValueError, "unknown statemgr value kind %d", (int)sm_value_type(v));
}
