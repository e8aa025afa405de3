package hypervisor

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"sort"
	"strings"
)

// MetadataNS is the XML namespace of sded's element in a domain's <metadata>;
// its presence (with the name prefix) is what makes a domain sded's.
const MetadataNS = "https://sded.dev/xmlns/libvirt/domain/1"

// metadataPrefix is the namespace prefix libvirt stores the element under.
const metadataPrefix = "sded"

// metadata is sded's ownership element inside <metadata>.
type metadata struct {
	XMLName xml.Name `xml:"domain"`
	Spec    string   `xml:"spec,attr"`
	Scope   string   `xml:"scope,attr"`
	Labels  []label  `xml:"label"`
}

type label struct {
	Key   string `xml:"key,attr"`
	Value string `xml:"value,attr"`
}

// specHash identifies a Spec's content, so Ensure can tell whether a defined
// domain already matches without comparing libvirt's normalised XML.
func specHash(s Spec) string {
	b, _ := json.Marshal(s) // a Spec always marshals: strings, ints, maps of strings
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:12])
}

// metadataXML renders the element with the prefix libvirt stores it under and
// sorted labels, so the same labels always give the same XML.
func metadataXML(labels map[string]string, specHash, scope string) (string, error) {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, `<%s:domain xmlns:%s="%s" spec="%s"`, metadataPrefix, metadataPrefix, MetadataNS, attr(specHash))
	if scope != "" {
		fmt.Fprintf(&b, ` scope="%s"`, attr(scope))
	}
	b.WriteString(">")
	for _, k := range keys {
		fmt.Fprintf(&b, `<%s:label key="%s" value="%s"/>`, metadataPrefix, attr(k), attr(labels[k]))
	}
	fmt.Fprintf(&b, `</%s:domain>`, metadataPrefix)
	return b.String(), nil
}

// attr escapes s for an XML attribute value.
func attr(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// parseMetadata reads the element back (as returned by virDomainGetMetadata):
// the labels, the spec hash and the scope.
func parseMetadata(s string) (meta, error) {
	var m metadata
	if err := xml.Unmarshal([]byte(s), &m); err != nil {
		return meta{}, fmt.Errorf("parsing sded metadata: %w", err)
	}
	if m.XMLName.Local != "domain" {
		return meta{}, fmt.Errorf("parsing sded metadata: unexpected element %q", m.XMLName.Local)
	}
	// virDomainGetMetadata, asked for MetadataNS, returns the element with
	// its namespace stripped; an element in another namespace is not ours.
	if m.XMLName.Space != "" && m.XMLName.Space != MetadataNS {
		return meta{}, fmt.Errorf("parsing sded metadata: namespace %q, want %q", m.XMLName.Space, MetadataNS)
	}
	labels := make(map[string]string, len(m.Labels))
	for _, l := range m.Labels {
		labels[l.Key] = l.Value
	}
	return meta{labels: labels, hash: m.Spec, scope: m.Scope}, nil
}

// meta is what sded's metadata element says of a domain.
type meta struct {
	labels map[string]string
	hash   string
	scope  string // scopeKey of the Driver that owns it; "" for unscoped
}

// scopeKey renders a scope canonically: sorted key=value pairs joined by ";".
func scopeKey(scope map[string]string) string {
	keys := make([]string, 0, len(scope))
	for k := range scope {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + scope[k]
	}
	return strings.Join(parts, ";")
}
