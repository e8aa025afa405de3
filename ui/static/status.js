// Live workstation status: polls the JSON API and updates the status
// elements (data-ws-status) in place. Without JavaScript the page refreshes
// itself instead.
const els = document.querySelectorAll('[data-ws-status]');

async function poll(el) {
	const id = el.dataset.wsStatus;
	try {
		const r = await fetch('/api/v1/workstations/' + encodeURIComponent(id), { credentials: 'same-origin' });
		if (r.status === 404) {
			el.querySelector('[data-testid=ws-state]').textContent = 'deleted';
			return;
		}
		if (!r.ok) return;
		const w = await r.json();
		const st = el.querySelector('[data-testid=ws-state]');
		st.textContent = w.view.state;
		st.className = 'state state-' + w.view.state;
		let prog = el.querySelector('progress');
		if (w.view.busy && !prog) {
			prog = document.createElement('progress');
			prog.setAttribute('aria-label', 'working');
			prog.dataset.testid = 'ws-progress';
			st.after(prog);
		} else if (!w.view.busy && prog) {
			prog.remove();
		}
		const open = document.querySelector('[data-ws-desktop="' + id + '"]');
		if (open) open.classList.toggle('hidden', !w.view.running);
	} catch (e) {
		// Network blips: try again on the next tick.
	}
}

if (els.length > 0) {
	setInterval(() => els.forEach(poll), 2000);
}
