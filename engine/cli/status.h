/* status.h — `baton status` and `baton reload`: ask a running engine over
 * HTTP (http.listen of the config) for its health report, printed as a
 * one-screen summary, or to reload its scripts. */
#ifndef BATON_STATUS_H
#define BATON_STATUS_H

#include <stdio.h>

#include "conf/conf.h"

/* Fetches GET /api/system/health and prints the summary to out. Returns 0,
 * or 3 (with one line on stderr) when no engine answers at http.listen. */
int status_print(const conf_t *conf, FILE *out);

/* Sends a GET for path to host:port and reads the whole answer, waiting at
 * most timeout_ms. *status gets the HTTP status, *body a malloc'd copy of the
 * body (caller frees). Returns 0 or a negative errno code. */
int status_http_get(const char *host, int port, const char *path, int timeout_ms, int *status,
                    char **body);

/* The same with any method, and a bearer token when token is non-empty. */
int status_http_call(const char *method, const char *host, int port, const char *path,
                     const char *token, int timeout_ms, int *status, char **body);

/* `baton reload`: POST /api/reload with conf's token; prints the outcome to
 * out and each script error to stderr. Returns 0, 1 when a script failed or
 * the reload was refused, 3 when no engine answers. */
int status_reload(const conf_t *conf, FILE *out);

#endif
