/* Checking cuRAND calls: the failing call, file:line and cuRAND's own status name in one line. */
#ifndef DD_CURAND_CHECK_H
#define DD_CURAND_CHECK_H

#include <curand.h>
#include <stdio.h>

#include "deepdigits/idx.h" /* DD_ERR_LEN */

#ifdef __cplusplus
extern "C" {
#endif
const char *dd_curand_status_name(curandStatus_t s);
#ifdef __cplusplus
}
#endif

/* Evaluates CALL; on failure writes the line to ERR and returns -1 from the enclosing function. */
#define CURAND_CHECK(call, err)                                                                    \
    do {                                                                                           \
        curandStatus_t st_ = (call);                                                               \
        if (st_ != CURAND_STATUS_SUCCESS) {                                                        \
            snprintf((err), DD_ERR_LEN, "%s:%d: %s failed: %s", __FILE__, __LINE__, #call,         \
                     dd_curand_status_name(st_));                                                  \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

#endif
