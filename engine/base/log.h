/* log.h — structured logging to stderr: one line per event, text or JSON.
 * Lines say what happened and where: "reply run 812: found 8 opportunities". */
#ifndef BATON_LOG_H
#define BATON_LOG_H

#include <stdarg.h>

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF } log_level_t;

/* Sets the threshold and format (json = 1: one JSON object per line). */
void log_setup(log_level_t level, int json);

/* Sets the function that gives the time stamped on each line (default: the
 * wall clock), so dry runs log virtual time. NULL restores the default. */
void log_set_clock(double (*now)(void *ud), void *ud);

/* 1 when lines of this level are written. */
int log_enabled(log_level_t level);

/* The longest message a line carries, in bytes (16 KB). A longer one keeps
 * its first LOG_MSG_MAX bytes, cut before a UTF-8 character that would not
 * fit, followed by LOG_TRUNCATED_MARK "N bytes in all]". */
enum { LOG_MSG_MAX = 16 * 1024 };
#define LOG_TRUNCATED_MARK "... [truncated, "

/* Writes one line. `job` may be NULL; run_id 0 means no run. */
void log_emit(log_level_t level, const char *job, long long run_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void log_emitv(log_level_t level, const char *job, long long run_id, const char *fmt, va_list ap);

#define log_debug(...) log_emit(LOG_DEBUG, NULL, 0, __VA_ARGS__)
#define log_info(...) log_emit(LOG_INFO, NULL, 0, __VA_ARGS__)
#define log_warn(...) log_emit(LOG_WARN, NULL, 0, __VA_ARGS__)
#define log_error(...) log_emit(LOG_ERROR, NULL, 0, __VA_ARGS__)

#endif
