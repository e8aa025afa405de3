// The browser desktop: noVNC connected to sded's websocket proxy. The proxy,
// not this script, enforces the clipboard policy.
import RFB from './vendor/novnc/core/rfb.js';

const screen = document.getElementById('screen');
const state = document.getElementById('desktop-state');
const id = screen.dataset.ws;
const url = 'wss://' + location.host + '/workstations/' + encodeURIComponent(id) + '/desktop/ws';

function show(text, s) {
	state.textContent = text;
	state.dataset.state = s;
	screen.dataset.state = s;
}

const rfb = new RFB(screen, url, { wsProtocols: ['binary'] });
rfb.scaleViewport = true;
rfb.focusOnClick = true;
rfb.addEventListener('connect', () => { show('connected', 'connected'); rfb.focus(); });
rfb.addEventListener('disconnect', (e) => show(e.detail.clean ? 'disconnected' : 'connection lost', 'disconnected'));
rfb.addEventListener('securityfailure', (e) => show('refused: ' + e.detail.reason, 'refused'));

const paste = document.getElementById('paste');
if (paste) {
	document.getElementById('paste-send').addEventListener('click', () => {
		rfb.clipboardPasteFrom(paste.value);
		paste.value = '';
		rfb.focus();
	});
}
