/* status.h — `baton status`: asks a running engine for its health report
 * over HTTP (http.listen of the config) and prints a one-screen summary. */
#ifndef BATON_STATUS_H
#define BATON_STATUS_H

#include <stdio.h>

#include "conf.h"

/* Fetches GET /api/system/health and prints the summary to out. Returns 0,
 * or 3 (with one line on stderr) when no engine answers at http.listen. */
int status_print(const conf_t *conf, FILE *out);

/* Sends a GET for path to host:port and reads the whole answer, waiting at
 * most timeout_ms. *status gets the HTTP status, *body a malloc'd copy of the
 * body (caller frees). Returns 0 or a negative errno code. */
int status_http_get(const char *host, int port, const char *path, int timeout_ms, int *status,
                    char **body);

#endif
