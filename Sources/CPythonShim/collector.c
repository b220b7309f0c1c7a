/* Whether the cyclic collector of this interpreter is running: CPython keeps that in its
   private interpreter state, which only a file built as part of the core may read. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include "internal/pycore_pystate.h"
#include "internal/pycore_interp.h"

int gl_collector_is_running(void)
{
    return PyInterpreterState_Get()->gc.collecting != 0;
}
