/* SPDX-License-Identifier: MIT */
/* ext.h - what the files of the statemgr._statemgr extension share.
 *
 * The extension is a thin layer over libstatemgr: a Client (an sm_client,
 * maybe owning a private sm_manager), a Proxy base type (one sm_proxy,
 * subclassed in Python by DictProxy, ListProxy...) whose _call forwards a
 * method by name, a Pipeline, and the conversion between Python objects and
 * sm_values. Everything Python-shaped (dunder methods, exceptions such as
 * KeyError, timeouts in seconds) lives in the statemgr package above it.
 *
 * Files: module.c (init, errors), values.c (conversion), client.c (Client),
 * proxy.c (Proxy), pipeline.c (Pipeline), txn.c (Client.txn). Names: ext_ for what module.c
 * shares, val_ values, cli_ client, prx_ proxy, pl_ pipeline. */
#ifndef SM_PY_EXT_H
#define SM_PY_EXT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <statemgr.h>

#include <stdbool.h>
#include <stdint.h>

typedef struct prx_object prx_object;

/* A connection to a daemon: an sm_client, and the private manager that
 * owns it when the client came from start_manager(). */
typedef struct cli_object {
  PyObject_HEAD sm_client
      *client;         /**< owned (through manager when that is set); NULL once closed */
  sm_manager *manager; /**< owned; NULL for a client from connect() */
  PyObject *url;       /**< str */
  PyObject *authkey;   /**< bytes or None: how children of this process reconnect */
  long inflight;       /**< calls running with the GIL released (changed with the GIL held) */
  prx_object *proxies; /**< live proxies, so that close() can free them first */
  pid_t pid;           /**< the process that opened the client */
  PyObject *dict;      /**< instance __dict__: the package keeps its notes there */
  PyObject *weakrefs;
  char no_pickle; /**< refuse values that would need pickling (serializer='xmlrpclib') */
} cli_object;

/* One proxy: an sm_proxy view of a typed proxy, freed with free_fn. */
struct prx_object {
  PyObject_HEAD cli_object *client; /**< strong reference: the client outlives its proxies */
  sm_proxy *proxy;                  /**< borrowed view of typed; NULL once freed */
  void *typed;                      /**< owned typed proxy (sm_dict *...), freed with free_fn */
  void (*free_fn)(void *);          /**< the matching sm_*_free */
  PyObject *dict;                   /**< instance __dict__ for Python subclasses */
  PyObject *weakrefs;
  long busy;               /**< calls on this proxy running with the GIL released */
  prx_object *prev, *next; /**< in client->proxies */
};

extern PyTypeObject cli_type;
extern PyTypeObject prx_type;
extern PyTypeObject pipeline_type;
extern PyTypeObject pipeline_view_type;

/* module.c: raises the exception class registered for code (statemgr.Error
 * and its subclasses, set by the package with _set_errors) with text.
 * Returns NULL, for `return ext_raise(...)`. */
PyObject *ext_raise(int code, const char *text);
/* Raises for the failure of the last library call on this thread. */
PyObject *ext_raise_last(int code);
/* The Python proxy class registered for a daemon type name (borrowed; the
 * Proxy base type when none is). */
PyTypeObject *ext_proxy_class(const char *type);

/* values.c: *out receives a new sm_value for obj (caller frees with
 * sm_value_free()). as_key makes tuples and other hashable objects that are
 * not scalars into marked pickled bytes, so they can be dict keys; objects
 * that need pickling are refused (TypeError) when client->no_pickle is set.
 * Returns 0, or -1 with a Python exception set. */
int val_from_py(cli_object *client, PyObject *obj, bool as_key, sm_value **out);
/* A new Python object for v; refs become proxies opened through client.
 * Returns NULL with an exception set. */
PyObject *val_to_py(cli_object *client, const sm_value *v);
/* Loads the pickle module's dumps/loads; 0 or -1. */
int val_init(void);

/* client.c */
int cli_check_open(cli_object *c);
/* txn.c: Client.txn(conditions, then, orelse) -> (succeeded, [(code,
 * value), ...]). */
PyObject *cli_txn(cli_object *c, PyObject *args);
/* Links p into c's live proxies (p holds a reference to c). */
void cli_link(cli_object *c, prx_object *p);
void cli_unlink(prx_object *p);

/* proxy.c: a new proxy object of class cls over typed (taken over: freed
 * on failure too). */
PyObject *prx_new(PyTypeObject *cls, cli_object *client, void *typed, sm_proxy *view,
                  void (*free_fn)(void *));
/* Opens the object a ref names, as a proxy of its registered class. */
PyObject *prx_from_ref(cli_object *client, const sm_value *ref);
/* Frees the library proxy (no-op when freed already); GIL held. */
void prx_release(prx_object *p);

#endif
