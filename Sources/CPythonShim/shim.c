#include "shim.h"

PyTypeObject GreenletType = { PyVarObject_HEAD_INIT(NULL, 0) };
PyTypeObject UnswitchableGreenletType = { PyVarObject_HEAD_INIT(NULL, 0) };
PyModuleDef GreenletModuleDef = { PyModuleDef_HEAD_INIT };

#include <pthread.h>

static _Thread_local void *thread_state;
static pthread_key_t exit_key;
static greenlet_thread_exit_fn exit_hook;

static void thread_exiting(void *state)
{
    thread_state = NULL;
    if (state && exit_hook) exit_hook(state);
}

int greenlet_install_thread_exit_hook(greenlet_thread_exit_fn hook)
{
    exit_hook = hook;
    return pthread_key_create(&exit_key, thread_exiting);
}

void *greenlet_thread_state_get(void) { return thread_state; }

void greenlet_thread_state_set(void *state)
{
    thread_state = state;
    pthread_setspecific(exit_key, state);
}
