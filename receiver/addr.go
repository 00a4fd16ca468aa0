package receiver

import (
	"net"
	"net/netip"
	"strconv"
)

// exporterHash picks the worker of an exporter: FNV-1a over its address.
// The port is left out so that an exporter that changes source port (the
// case netflow.Config.IgnoreExporterPort serves) still has one worker.
func exporterHash(ap netip.AddrPort) uint32 {
	a := ap.Addr().As16()
	h := uint32(2166136261)
	for _, b := range a {
		h = (h ^ uint32(b)) * 16777619
	}
	return h
}

// addrPortOf returns the address and port of a net.Addr, IPv4-mapped
// addresses unmapped; the zero AddrPort if it has none.
func addrPortOf(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	case nil:
		return ap
	default:
		host, port, err := net.SplitHostPort(a.String())
		if err != nil {
			return ap
		}
		ip, err1 := netip.ParseAddr(host)
		pn, err2 := strconv.ParseUint(port, 10, 16)
		if err1 != nil || err2 != nil {
			return ap
		}
		ap = netip.AddrPortFrom(ip, uint16(pn))
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
