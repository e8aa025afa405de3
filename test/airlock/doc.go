// Package airlocktest tests the airlock end to end: the engine
// (cluster/airlock) and the workstation gateway (ui/gateway) wired to a real
// single-node cluster, the real Service and the real storage packages
// (staged store, disclosure checks, pseudonymisation, data volumes built
// with mkfs.ext4 and qemu-img and read back with debugfs); and the whole
// daemon (`sded serve`) with real libvirt guests exporting through their
// project's gateway, typed at their consoles over VNC (TestGuestExportE2E),
// and an import made through the HTTPS API that a guest, restarted by sded,
// reads from its read-only data disk, typed at over its serial console
// (TestGuestImportE2E).
package airlocktest
