/* units.c — parsing and formatting of the units people write: durations, sizes
 * and points in time. Numbers are parsed by hand (digits and one '.'), so no
 * sign, exponent, "inf", hex or locale decimal comma slips through strtod. */
#include "units.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Beyond this many seconds (~31700 years) durations and times are rejected. */
#define UNITS_MAX_SECONDS 1e12

/* Reads an unsigned decimal "12", "1.5", ".5", "5." at *p and advances *p.
 * Returns 0, or -EINVAL when no digit is there. */
static int read_number(const char **p, double *out) {
    const char *s = *p;
    double whole = 0, frac = 0, scale = 1;
    int digits = 0;
    while (*s >= '0' && *s <= '9') {
        whole = whole * 10 + (*s++ - '0');
        digits++;
    }
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') {
            if (scale < 1e18) {
                frac = frac * 10 + (*s - '0');
                scale *= 10;
            }
            s++;
            digits++;
        }
    }
    if (digits == 0) return -EINVAL;
    *out = whole + frac / scale;
    *p = s;
    return 0;
}

/* Reads exactly n digits as an int. */
static int read_fixed(const char **p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        char ch = (*p)[i];
        if (ch < '0' || ch > '9') return -EINVAL;
        v = v * 10 + (ch - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int units_duration(const char *text, double *seconds) {
    static const struct {
        const char *name;
        double scale;
    } units[] = {{"ms", 0.001}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};
    const char *p = text;
    double total = 0, n;

    if (!p || !*p) return -EINVAL;
    if (read_number(&p, &n) < 0) return -EINVAL;
    if (*p == '\0') {
        total = n;
    } else {
        for (;;) {
            size_t i, len = 0;
            /* Longest unit first: "ms" must win over "m". */
            for (i = 0; i < sizeof units / sizeof units[0]; i++) {
                len = strlen(units[i].name);
                if (strncmp(p, units[i].name, len) == 0) break;
            }
            if (i == sizeof units / sizeof units[0]) return -EINVAL;
            p += len;
            total += n * units[i].scale;
            if (*p == '\0') break;
            if (read_number(&p, &n) < 0) return -EINVAL;
        }
    }
    if (!isfinite(total) || total > UNITS_MAX_SECONDS) return -EINVAL;
    *seconds = total;
    return 0;
}

int units_size(const char *text, size_t *bytes) {
    static const struct {
        const char *name;
        double scale;
    } units[] = {{"", 1}, {"b", 1}, {"kb", 1024.0}, {"mb", 1048576.0}, {"gb", 1073741824.0}};
    const char *p = text;
    double n, total;

    if (!p || read_number(&p, &n) < 0) return -EINVAL;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(p, units[i].name) != 0) continue;
        total = nearbyint(n * units[i].scale);
        /* (double)SIZE_MAX rounds up to 2^64 on 64-bit hosts, so compare with >=. */
        if (!isfinite(total) || total >= (double)SIZE_MAX) return -EINVAL;
        *bytes = (size_t)total;
        return 0;
    }
    return -EINVAL;
}

static int days_in_month(int year, int month) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 ? 28 + leap : days[month - 1];
}

/* "YYYY-MM-DD", optionally "THH:MM[:SS[.fff]]" and then "Z" or "+HH:MM"/"-HH:MM". */
static int parse_iso(const char *p, double *epoch) {
    struct tm tm = {0};
    int year, mon, day, hour = 0, min = 0, sec = 0, off = 0;
    double frac = 0;

    if (read_fixed(&p, 4, &year) < 0 || *p++ != '-' || read_fixed(&p, 2, &mon) < 0 || *p++ != '-' ||
        read_fixed(&p, 2, &day) < 0)
        return -EINVAL;
    if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon)) return -EINVAL;
    if (*p == 'T' || *p == 't') {
        p++;
        if (read_fixed(&p, 2, &hour) < 0 || *p++ != ':' || read_fixed(&p, 2, &min) < 0)
            return -EINVAL;
        if (*p == ':') {
            p++;
            if (read_fixed(&p, 2, &sec) < 0) return -EINVAL;
            if (*p == '.') {
                if (read_number(&p, &frac) < 0) return -EINVAL;
            }
        }
        if (hour > 23 || min > 59 || sec > 59) return -EINVAL;
        /* A time of day needs its zone: a bare local time would be ambiguous. */
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om;
            if (read_fixed(&p, 2, &oh) < 0 || *p++ != ':' || read_fixed(&p, 2, &om) < 0 ||
                oh > 23 || om > 59)
                return -EINVAL;
            off = sign * (oh * 3600 + om * 60);
        } else {
            return -EINVAL;
        }
    }
    if (*p != '\0') return -EINVAL;
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    *epoch = (double)timegm(&tm) - off + frac;
    return 0;
}

int units_time(const char *text, double *epoch) {
    const char *p = text;
    double n;

    if (!p || !*p) return -EINVAL;
    if (strlen(p) >= 5 && p[4] == '-') return parse_iso(p, epoch);
    if (read_number(&p, &n) < 0 || *p != '\0' || n > UNITS_MAX_SECONDS) return -EINVAL;
    *epoch = n;
    return 0;
}

/* Appends "%lld<unit>" to buf at *at when v is non-zero. */
static void put_part(char *buf, size_t cap, size_t *at, long long v, const char *unit) {
    if (v == 0 || *at >= cap) return;
    int n = snprintf(buf + *at, cap - *at, "%lld%s", v, unit);
    if (n > 0) *at += (size_t)n;
}

int units_format_duration(double seconds, char *buf, size_t len) {
    char out[96];
    size_t at = 0;

    if (!isfinite(seconds) || fabs(seconds) > UNITS_MAX_SECONDS)
        return snprintf(buf, len, "%gs", seconds);
    if (seconds < 0) {
        out[at++] = '-';
        seconds = -seconds;
    }
    if (seconds > 0 && seconds < 0.001) {
        /* Below a millisecond: keep it exact rather than print "0s". */
        snprintf(out + at, sizeof out - at, "%.9gms", seconds * 1000);
        return snprintf(buf, len, "%s", out);
    }
    long long ms = llround(seconds * 1000);
    if (ms == 0) return snprintf(buf, len, "0s");
    if (ms < 1000) {
        snprintf(out + at, sizeof out - at, "%lldms", ms);
        return snprintf(buf, len, "%s", out);
    }
    put_part(out, sizeof out, &at, ms / 86400000, "d");
    put_part(out, sizeof out, &at, ms / 3600000 % 24, "h");
    put_part(out, sizeof out, &at, ms / 60000 % 60, "m");
    long long s = ms / 1000 % 60, frac = ms % 1000;
    if (frac) {
        /* "1.5s", "1m0.25s": milliseconds as a decimal of the seconds. */
        char f[8];
        int n = snprintf(f, sizeof f, "%03lld", frac);
        while (n > 0 && f[n - 1] == '0') f[--n] = '\0';
        snprintf(out + at, sizeof out - at, "%lld.%ss", s, f);
    } else {
        put_part(out, sizeof out, &at, s, "s");
    }
    return snprintf(buf, len, "%s", out);
}

int units_format_time(double epoch, char *buf, size_t len) {
    struct tm tm;

    if (!isfinite(epoch) || fabs(epoch) > UNITS_MAX_SECONDS)
        return snprintf(buf, len, "%.3f", epoch);
    long long ms = llround(epoch * 1000);
    long long secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) { /* floor division for times before 1970 */
        frac += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    if (!gmtime_r(&t, &tm)) return snprintf(buf, len, "%.3f", epoch);
    if (frac)
        return snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    return snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}
