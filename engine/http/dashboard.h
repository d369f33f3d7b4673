/* dashboard.h — engine/dashboard.html, embedded in the binary at build time
 * (the Makefile turns it into a C array with xxd -i). */
#ifndef BATON_DASHBOARD_H
#define BATON_DASHBOARD_H

extern unsigned char dashboard_html[];
extern unsigned int dashboard_html_len;

#endif
