package hypervisor

import (
	"context"
	"strings"
	"time"

	"libvirt.org/go/libvirt"
)

// EventKind says what happened to a domain.
type EventKind string

// Event kinds. EventReconnected carries no domain: the connection to libvirtd
// was re-established and events may have been missed, so resynchronise.
const (
	EventDefined     EventKind = "defined"
	EventUndefined   EventKind = "undefined"
	EventStarted     EventKind = "started"
	EventSuspended   EventKind = "suspended"
	EventResumed     EventKind = "resumed"
	EventStopped     EventKind = "stopped"
	EventShutdown    EventKind = "shutdown"
	EventCrashed     EventKind = "crashed"
	EventOther       EventKind = "other"
	EventReconnected EventKind = "reconnected"
)

// Event is one libvirt lifecycle event of a domain named with sded's prefix.
// Consumers re-read state (State, List): events are hints, not the truth.
type Event struct {
	Kind EventKind
	Name string
	UUID string
	// Detail is libvirt's detail code for the event (e.g. why it stopped).
	Detail int
	Time   time.Time
}

// subscriberBuffer is how many events a slow subscriber may lag behind before
// events to it are dropped (its consumer must resynchronise periodically).
const subscriberBuffer = 128

// Subscribe returns a channel of lifecycle events of sded-named domains. The
// channel is closed when ctx ends or the Driver is closed.
func (d *Driver) Subscribe(ctx context.Context) <-chan Event {
	ch := make(chan Event, subscriberBuffer)
	d.subMu.Lock()
	id := d.nextSub
	d.nextSub++
	d.subs[id] = ch
	d.subMu.Unlock()
	go func() {
		<-ctx.Done()
		d.subMu.Lock()
		if c, ok := d.subs[id]; ok {
			close(c)
			delete(d.subs, id)
		}
		d.subMu.Unlock()
	}()
	return ch
}

// publish fans e out to subscribers without blocking the libvirt event loop.
func (d *Driver) publish(e Event) {
	d.subMu.Lock()
	defer d.subMu.Unlock()
	for _, ch := range d.subs {
		select {
		case ch <- e:
		default:
			d.log.Warn("dropping libvirt event for a slow subscriber", "domain", e.Name, "kind", string(e.Kind))
		}
	}
}

// onLifecycle runs on libvirt's event loop goroutine.
func (d *Driver) onLifecycle(_ *libvirt.Connect, dom *libvirt.Domain, ev *libvirt.DomainEventLifecycle) {
	name, err := dom.GetName()
	if err != nil || !strings.HasPrefix(name, NamePrefix) {
		return
	}
	uuid, _ := dom.GetUUIDString()
	d.publish(Event{Kind: eventKind(ev.Event), Name: name, UUID: uuid, Detail: ev.Detail, Time: time.Now()})
}

func eventKind(t libvirt.DomainEventType) EventKind {
	switch t {
	case libvirt.DOMAIN_EVENT_DEFINED:
		return EventDefined
	case libvirt.DOMAIN_EVENT_UNDEFINED:
		return EventUndefined
	case libvirt.DOMAIN_EVENT_STARTED:
		return EventStarted
	case libvirt.DOMAIN_EVENT_SUSPENDED:
		return EventSuspended
	case libvirt.DOMAIN_EVENT_RESUMED:
		return EventResumed
	case libvirt.DOMAIN_EVENT_STOPPED:
		return EventStopped
	case libvirt.DOMAIN_EVENT_SHUTDOWN:
		return EventShutdown
	case libvirt.DOMAIN_EVENT_CRASHED:
		return EventCrashed
	}
	return EventOther
}
