/* log.c — formats log lines (text or JSON via cJSON) and writes each with a
 * single write(2) so lines from the engine never interleave. */
#include "log.h"
#include "secret.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vclock.h"

static log_level_t threshold = LOG_INFO;
static int as_json;
static double (*clock_fn)(void *);
static void *clock_ud;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(log_level_t level, int json) {
    threshold = level;
    as_json = json;
}

void log_set_clock(double (*now)(void *ud), void *ud) {
    clock_fn = now;
    clock_ud = ud;
}

int log_enabled(log_level_t level) { return level >= threshold && level < LOG_OFF; }

static void stamp(char *buf, size_t len) {
    double now = clock_fn ? clock_fn(clock_ud) : vclock_wall();
    time_t secs = (time_t)now;
    struct tm tm;
    gmtime_r(&secs, &tm);
    int ms = (int)((now - (double)secs) * 1000.0);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

/* Formats the message into msg[LOG_MSG_MAX + LOG_MARK_ROOM]: one longer than
 * LOG_MSG_MAX bytes keeps its first LOG_MSG_MAX (not splitting a UTF-8
 * character) and ends with the mark saying how long it was. */
enum { LOG_MARK_ROOM = 64 };

static void format_message(char *msg, const char *fmt, va_list ap) {
    /* Room for one byte past the cut, to see whether the cut splits a character. */
    int n = vsnprintf(msg, LOG_MSG_MAX + 2, fmt, ap);
    if (n < 0) {
        snprintf(msg, LOG_MSG_MAX, "(unprintable log message)");
        return;
    }
    if (n <= LOG_MSG_MAX) return;
    size_t cut = LOG_MSG_MAX;
    while (cut > 0 && ((unsigned char)msg[cut] & 0xC0) == 0x80) cut--;
    snprintf(msg + cut, LOG_MARK_ROOM, LOG_TRUNCATED_MARK "%d bytes in all]", n);
}

/* Every line leaves through here, its secrets' values replaced by their marks. */
static void write_line(const char *buf, size_t len) {
    char *freeme;
    size_t n;
    const char *out = secret_redact_or_drop(buf, len, &n, &freeme);
    ssize_t w = write(STDERR_FILENO, out, n);
    (void)w;
    free(freeme);
}

void log_emitv(log_level_t level, const char *job, long long run_id, const char *fmt, va_list ap) {
    if (!log_enabled(level)) return;
    char when[64], msg[LOG_MSG_MAX + LOG_MARK_ROOM], line[LOG_MSG_MAX + LOG_MARK_ROOM + 512];
    char *json = NULL;
    int n;
    stamp(when, sizeof when);
    format_message(msg, fmt, ap);
    if (as_json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "at", when);
        cJSON_AddStringToObject(o, "level", level_names[level]);
        if (job) cJSON_AddStringToObject(o, "job", job);
        if (run_id) cJSON_AddNumberToObject(o, "run", (double)run_id);
        cJSON_AddStringToObject(o, "msg", msg);
        /* Escapes can make the line longer than msg: it is printed on the heap. */
        json = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (json) {
            size_t len = strlen(json);
            char *grown = realloc(json, len + 2);
            if (grown) {
                json = grown;
                json[len++] = '\n';
                write_line(json, len);
            }
            free(json);
            return;
        }
        n = snprintf(line, sizeof line, "{\"level\":\"error\",\"msg\":\"out of memory logging\"}");
    } else if (job && run_id) {
        n = snprintf(line, sizeof line, "%s %-5s %s run %lld: %s", when, level_names[level], job,
                     run_id, msg);
    } else if (job) {
        n = snprintf(line, sizeof line, "%s %-5s %s: %s", when, level_names[level], job, msg);
    } else {
        n = snprintf(line, sizeof line, "%s %-5s %s", when, level_names[level], msg);
    }
    if (n < 0) return;
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    write_line(line, (size_t)n);
}

void log_emit(log_level_t level, const char *job, long long run_id, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_emitv(level, job, run_id, fmt, ap);
    va_end(ap);
}
