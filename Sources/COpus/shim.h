// Thin shim so Swift sees libopus (RFC 6716) for the conference rooms.
#ifndef SIPPROXY_COPUS_SHIM_H
#define SIPPROXY_COPUS_SHIM_H
#include <opus/opus.h>
#endif
