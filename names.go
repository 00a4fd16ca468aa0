package netflow

import "strconv"

// protoNames are the common names of the IP protocols flows usually carry,
// by protocol number (IANA "Assigned Internet Protocol Numbers", in lower
// case as /etc/protocols spells them).
var protoNames = [256]string{
	1: "icmp", 2: "igmp", 4: "ipip", 6: "tcp", 17: "udp", 41: "ipv6", 47: "gre",
	50: "esp", 51: "ah", 58: "icmp6", 89: "ospf", 103: "pim", 112: "vrrp", 132: "sctp",
}

// ProtoName returns the common name of IP protocol number p ("tcp", "udp",
// "icmp6", ...), or p in decimal for a protocol it has no name for.
func ProtoName(p uint8) string {
	if s := protoNames[p]; s != "" {
		return s
	}
	return strconv.Itoa(int(p))
}

// tcpFlagLetters name the TCP flag bits from the highest (CWR) to the
// lowest (FIN).
const tcpFlagLetters = "CEUAPRSF"

// AppendTCPFlags appends the eight TCP flag bits of flags, high to low, as
// the letters CEUAPRSF (CWR, ECE, URG, ACK, PSH, RST, SYN, FIN), with '.'
// for a bit that is clear: 0x1b is "...AP.SF".
func AppendTCPFlags(dst []byte, flags uint8) []byte {
	for i := range len(tcpFlagLetters) {
		if flags&(0x80>>i) != 0 {
			dst = append(dst, tcpFlagLetters[i])
		} else {
			dst = append(dst, '.')
		}
	}
	return dst
}

// FormatTCPFlags returns the text AppendTCPFlags appends: 0x12 is
// "...A..S.".
func FormatTCPFlags(flags uint8) string {
	var b [8]byte
	return string(AppendTCPFlags(b[:0], flags))
}
