/* SPDX-License-Identifier: MIT */
/* module.c - the statemgr._statemgr extension module: its functions
 * (connect, start_manager, the registries the package fills at import) and
 * the mapping of libstatemgr's SM_E* codes to Python exceptions.
 *
 * The exception classes live in the package (statemgr/errors.py): it hands
 * them over with _set_errors({code: class}, default) once, and a code with
 * no class of its own (one added to the library later, say) raises the
 * default, statemgr.Error, with the code and text. */
#include "ext.h"

static PyObject *error_classes; /* dict: int code -> class */
static PyObject *error_default; /* statemgr.Error */
static PyObject *proxy_classes; /* dict: daemon type name -> Proxy subclass */

PyObject *ext_raise(int code, const char *text) {
  PyObject *cls = NULL;
  if (error_classes) {
    PyObject *key = PyLong_FromLong(code);
    if (!key) return NULL;
    cls = PyDict_GetItemWithError(error_classes, key); /* borrowed */
    Py_DECREF(key);
    if (!cls && PyErr_Occurred()) return NULL;
  }
  if (!cls) cls = error_default ? error_default : PyExc_RuntimeError;
  /* Error(text, code, name): the package's classes take these three. */
  PyObject *exc = PyObject_CallFunction(cls, "sis", text && *text ? text : sm_strerror(code), code,
                                        sm_errname(code));
  if (exc) {
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
  }
  return NULL;
}

PyObject *ext_raise_last(int code) { return ext_raise(code, sm_last_error()); }

PyTypeObject *ext_proxy_class(const char *type) {
  if (proxy_classes) {
    PyObject *cls = PyDict_GetItemString(proxy_classes, type); /* borrowed */
    if (cls && PyType_Check(cls)) return (PyTypeObject *)cls;
  }
  return &prx_type;
}

/* _set_errors(classes: dict[int, type], default: type) */
static PyObject *mod_set_errors(PyObject *self, PyObject *args) {
  (void)self;
  PyObject *classes, *dflt;
  if (!PyArg_ParseTuple(args, "O!O:_set_errors", &PyDict_Type, &classes, &dflt)) return NULL;
  Py_INCREF(classes);
  Py_XSETREF(error_classes, classes);
  Py_INCREF(dflt);
  Py_XSETREF(error_default, dflt);
  Py_RETURN_NONE;
}

/* _register_proxy_class(type: str, cls): refs of that daemon type come
 * back as instances of cls (a Proxy subclass). */
static PyObject *mod_register_proxy_class(PyObject *self, PyObject *args) {
  (void)self;
  const char *type;
  PyObject *cls;
  if (!PyArg_ParseTuple(args, "sO!:_register_proxy_class", &type, &PyType_Type, &cls)) return NULL;
  if (!PyType_IsSubtype((PyTypeObject *)cls, &prx_type))
    return PyErr_Format(PyExc_TypeError, "%R is not a Proxy subclass", cls);
  if (PyDict_SetItemString(proxy_classes, type, cls) < 0) return NULL;
  Py_RETURN_NONE;
}

/* The error names and texts of the library, {code: (name, text)}, so the
 * package builds its table from the library's own. */
static PyObject *mod_error_table(PyObject *self, PyObject *unused) {
  (void)self;
  (void)unused;
  PyObject *d = PyDict_New();
  if (!d) return NULL;
#define ADD_ERROR(name, code, text)                                                                \
  do {                                                                                             \
    PyObject *k = PyLong_FromLong(code), *v = Py_BuildValue("(ss)", "SM_E" #name, text);           \
    int bad = !k || !v || PyDict_SetItem(d, k, v) < 0;                                             \
    Py_XDECREF(k);                                                                                 \
    Py_XDECREF(v);                                                                                 \
    if (bad) {                                                                                     \
      Py_DECREF(d);                                                                                \
      return NULL;                                                                                 \
    }                                                                                              \
  } while (0);
  SM_ERRNO_MAP(ADD_ERROR)
#undef ADD_ERROR
  return d;
}

static PyMethodDef mod_methods[] = {
    {"_set_errors", mod_set_errors, METH_VARARGS, "Sets the exception classes of the SM_E* codes."},
    {"_register_proxy_class", mod_register_proxy_class, METH_VARARGS,
     "Registers the Proxy subclass for refs of a daemon type."},
    {"_error_table", mod_error_table, METH_NOARGS, "{code: (name, text)} of the C library."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef mod_def = {
    PyModuleDef_HEAD_INIT,
    "statemgr._statemgr",
    "The C layer of the statemgr package: clients, proxies and pipelines over libstatemgr.",
    -1,
    mod_methods,
};

PyMODINIT_FUNC PyInit__statemgr(void);
PyMODINIT_FUNC PyInit__statemgr(void) {
  if (val_init() < 0) return NULL;
  if (PyType_Ready(&cli_type) < 0 || PyType_Ready(&prx_type) < 0 ||
      PyType_Ready(&pipeline_type) < 0 || PyType_Ready(&pipeline_view_type) < 0)
    return NULL;
  PyObject *m = PyModule_Create(&mod_def);
  if (!m) return NULL;
  proxy_classes = PyDict_New();
  if (!proxy_classes || PyModule_AddObjectRef(m, "Client", (PyObject *)&cli_type) < 0 ||
      PyModule_AddObjectRef(m, "Proxy", (PyObject *)&prx_type) < 0 ||
      PyModule_AddObjectRef(m, "Pipeline", (PyObject *)&pipeline_type) < 0 ||
      PyModule_AddObjectRef(m, "PipelineView", (PyObject *)&pipeline_view_type) < 0 ||
      PyModule_AddStringConstant(m, "library_version", sm_version()) < 0 ||
      PyModule_AddIntConstant(m, "FOREVER", SM_FOREVER) < 0) {
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
