/* bench_http.c — GET /api/system/health from a second process at a fixed
 * rate for a while (one connection per request, through status.c's client),
 * then prints the achieved rate, latency percentiles and the engine's own
 * loop lag.
 * Usage: bench_http PORT SECONDS RATE */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base/stats.h"
#include "cli/status.h"

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double lag_p99(int port) {
    int status;
    char *body;
    double v = -1;
    if (status_http_get("127.0.0.1", port, "/api/system/health", 5000, &status, &body) == 0) {
        cJSON *doc = cJSON_Parse(body);
        cJSON *lag = cJSON_GetObjectItemCaseSensitive(doc, "loop_lag_ms");
        cJSON *p99 = cJSON_GetObjectItemCaseSensitive(lag, "p99");
        if (cJSON_IsNumber(p99)) v = p99->valuedouble;
        cJSON_Delete(doc);
        free(body);
    }
    return v;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: bench_http PORT SECONDS RATE\n");
        return 2;
    }
    int port = atoi(argv[1]);
    double secs = atof(argv[2]), rate = atof(argv[3]);
    size_t cap = (size_t)(secs * rate) + 16, n = 0, errors = 0;
    double *lat = malloc(cap * sizeof *lat);
    if (!lat) return 1;
    double idle_lag = lag_p99(port);
    double start = mono(), next = start;
    while (mono() - start < secs && n < cap) {
        double now = mono();
        if (now < next) {
            struct timespec ts = {0, (long)((next - now) * 1e9)};
            nanosleep(&ts, NULL);
        }
        next += 1.0 / rate;
        int status;
        char *body;
        double t0 = mono();
        int rc = status_http_get("127.0.0.1", port, "/api/system/health", 5000, &status, &body);
        double t1 = mono();
        if (rc < 0 || status != 200)
            errors++;
        else
            lat[n++] = (t1 - t0) * 1000;
        free(body);
    }
    double elapsed = mono() - start, busy_lag = lag_p99(port);
    printf("requests=%zu errors=%zu seconds=%.1f rps=%.0f\n", n, errors, elapsed, n / elapsed);
    printf("latency_ms p50=%.2f p99=%.2f max=%.2f\n", stats_percentile(lat, n, 50),
           stats_percentile(lat, n, 99), stats_percentile(lat, n, 100));
    printf("loop_lag_p99_ms before=%.2f during=%.2f\n", idle_lag, busy_lag);
    free(lat);
    return errors ? 1 : 0;
}
