package dhcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// DHCP message types (option 53).
const (
	Discover byte = 1
	Offer    byte = 2
	Request  byte = 3
	Decline  byte = 4
	Ack      byte = 5
	Nak      byte = 6
	Release  byte = 7
	Inform   byte = 8
)

const (
	optSubnetMask   = 1
	optHostname     = 12
	optRequestedIP  = 50
	optLeaseTime    = 51
	optMessageType  = 53
	optServerID     = 54
	optRenewalTime  = 58
	optRebindTime   = 59
	optEnd          = 255
	optPad          = 0
	bootRequest     = 1
	bootReply       = 2
	headerLen       = 236
	magicCookie     = 0x63825363
	flagBroadcast   = 0x8000
	minReplyPadding = 300
)

// Packet is the part of a BOOTP/DHCP message the server uses.
type Packet struct {
	Op      byte
	XID     uint32
	Flags   uint16
	CIAddr  netip.Addr
	YIAddr  netip.Addr
	SIAddr  netip.Addr
	GIAddr  netip.Addr
	CHAddr  net.HardwareAddr
	Options map[byte][]byte
}

// Type returns the DHCP message type, 0 if absent.
func (p Packet) Type() byte {
	if v := p.Options[optMessageType]; len(v) == 1 {
		return v[0]
	}
	return 0
}

func addr4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b[:4])) }

func optAddr(p Packet, code byte) (netip.Addr, bool) {
	v := p.Options[code]
	if len(v) != 4 {
		return netip.Addr{}, false
	}
	return addr4(v), true
}

// Parse decodes a DHCP message, rejecting anything malformed.
func Parse(b []byte) (Packet, error) {
	if len(b) < headerLen+4 {
		return Packet{}, fmt.Errorf("parsing dhcp packet: %d bytes is too short", len(b))
	}
	if b[1] != 1 || b[2] != 6 {
		return Packet{}, errors.New("parsing dhcp packet: not an Ethernet hardware address")
	}
	if binary.BigEndian.Uint32(b[headerLen:]) != magicCookie {
		return Packet{}, errors.New("parsing dhcp packet: missing magic cookie")
	}
	p := Packet{
		Op: b[0], XID: binary.BigEndian.Uint32(b[4:]), Flags: binary.BigEndian.Uint16(b[10:]),
		CIAddr: addr4(b[12:]), YIAddr: addr4(b[16:]), SIAddr: addr4(b[20:]), GIAddr: addr4(b[24:]),
		CHAddr: net.HardwareAddr(append([]byte(nil), b[28:34]...)), Options: map[byte][]byte{},
	}
	opts := b[headerLen+4:]
	for i := 0; i < len(opts); {
		code := opts[i]
		if code == optEnd {
			break
		}
		if code == optPad {
			i++
			continue
		}
		if i+1 >= len(opts) || i+2+int(opts[i+1]) > len(opts) {
			return Packet{}, errors.New("parsing dhcp packet: truncated option")
		}
		n := int(opts[i+1])
		p.Options[code] = append(p.Options[code], opts[i+2:i+2+n]...)
		i += 2 + n
	}
	return p, nil
}

// Marshal encodes p; options are written in ascending code order after the
// message type.
func (p Packet) Marshal() []byte {
	b := make([]byte, headerLen+4, minReplyPadding)
	b[0], b[1], b[2] = p.Op, 1, 6
	binary.BigEndian.PutUint32(b[4:], p.XID)
	binary.BigEndian.PutUint16(b[10:], p.Flags)
	for off, a := range map[int]netip.Addr{12: p.CIAddr, 16: p.YIAddr, 20: p.SIAddr, 24: p.GIAddr} {
		if a.IsValid() {
			v := a.As4()
			copy(b[off:], v[:])
		}
	}
	copy(b[28:], p.CHAddr)
	binary.BigEndian.PutUint32(b[headerLen:], magicCookie)
	if t, ok := p.Options[optMessageType]; ok {
		b = append(b, optMessageType, byte(len(t)))
		b = append(b, t...)
	}
	for code := 1; code < optEnd; code++ {
		v, ok := p.Options[byte(code)]
		if !ok || code == optMessageType {
			continue
		}
		b = append(b, byte(code), byte(len(v)))
		b = append(b, v...)
	}
	b = append(b, optEnd)
	for len(b) < minReplyPadding {
		b = append(b, 0)
	}
	return b
}
