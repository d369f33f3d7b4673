/* units.h — the units people write in engine.conf, scripts and on the command
 * line: durations ("250ms" "5s" "15m" "2h" "1d", compounds like "1h30m", or a
 * number of seconds), sizes ("64MB" "512KB") and points in time (ISO 8601 UTC
 * or epoch seconds). Pure functions, no allocation. */
#ifndef BATON_UNITS_H
#define BATON_UNITS_H

#include <stddef.h>

/* Parses a duration string into seconds. Accepts a plain non-negative number
 * ("30", "1.5" = seconds) or one or more <number><unit> parts with units ms, s,
 * m, h, d ("1h30m", "0.5s"). Returns 0, or -EINVAL for anything else (empty,
 * negative, unknown unit, trailing garbage, overflow). */
int units_duration(const char *text, double *seconds);

/* Parses a size: a plain number of bytes or <number><unit> with units B, KB, MB,
 * GB (powers of 1024; case-insensitive). Returns 0 or -EINVAL. */
int units_size(const char *text, size_t *bytes);

/* Parses a point in time: "2026-01-05T00:00:00Z" (also "...T00:00Z",
 * "2026-01-05", fractional seconds) in UTC, or epoch seconds ("1767571200").
 * Returns 0 or -EINVAL. */
int units_time(const char *text, double *epoch);

/* Writes a duration compactly ("250ms", "5s", "15m", "1h30m", "2d") into buf.
 * Returns the length written (snprintf semantics). */
int units_format_duration(double seconds, char *buf, size_t len);

/* Writes an epoch time as ISO 8601 UTC, "2026-01-05T00:00:00Z" (milliseconds
 * shown only when non-zero). Returns the length written. */
int units_format_time(double epoch, char *buf, size_t len);

#endif
