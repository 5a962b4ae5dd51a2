// Thin shim so Swift sees libpcap's public API (pcap_open_dead, pcap_dump_open, pcap_dump, ...).
#ifndef SIPPROXY_CPCAP_SHIM_H
#define SIPPROXY_CPCAP_SHIM_H
#include <pcap/pcap.h>
#endif
