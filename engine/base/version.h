/* version.h — the version of baton this tree builds. */
#ifndef BATON_VERSION_H
#define BATON_VERSION_H

#define BATON_VERSION "0.1.0"

#endif
