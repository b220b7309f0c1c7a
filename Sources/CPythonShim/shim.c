#include "shim.h"

PyTypeObject GreenletType = { PyVarObject_HEAD_INIT(NULL, 0) };
PyTypeObject UnswitchableGreenletType = { PyVarObject_HEAD_INIT(NULL, 0) };
PyModuleDef GreenletModuleDef = { PyModuleDef_HEAD_INIT };

static _Thread_local void *thread_state;
void *greenlet_thread_state_get(void) { return thread_state; }
void greenlet_thread_state_set(void *state) { thread_state = state; }
