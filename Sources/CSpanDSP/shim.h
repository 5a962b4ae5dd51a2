// Thin shim so Swift sees spandsp's G.722 codec (ITU-T G.722 sub-band ADPCM) without the rest of spandsp.h, which
// pulls in libtiff for its fax modules.
#ifndef SIPPROXY_CSPANDSP_SHIM_H
#define SIPPROXY_CSPANDSP_SHIM_H
#include <stdint.h>
#include <spandsp/telephony.h>
#include <spandsp/g722.h>
#endif
