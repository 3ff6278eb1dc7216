// sound.js -- the console's alerts, synthesised with WebAudio (no audio
// files): a triple beep for an urgent message and a repeating two-tone ring
// for an incoming call.  Browsers start audio only after the user has
// interacted with the page; until then the calls are silent no-ops.

let ctx = null;

function audio() {
  try {
    if (!ctx) ctx = new AudioContext();
    if (ctx.state === 'suspended') ctx.resume().catch(() => {});
    return ctx;
  } catch {
    return null;
  }
}

function tone(freq, at, dur) {
  const a = audio();
  if (!a) return;
  const o = a.createOscillator(), g = a.createGain();
  o.type = 'sine';
  o.frequency.value = freq;
  g.gain.setValueAtTime(0.0001, a.currentTime + at);
  g.gain.exponentialRampToValueAtTime(0.2, a.currentTime + at + 0.02);
  g.gain.exponentialRampToValueAtTime(0.0001, a.currentTime + at + dur);
  o.connect(g).connect(a.destination);
  o.start(a.currentTime + at);
  o.stop(a.currentTime + at + dur + 0.05);
}

export function beep() {
  for (let i = 0; i < 3; i++) tone(880, i * 0.25, 0.18);
}

// Rings every 2 s until the returned function is called.
export function ring() {
  const once = () => { tone(440, 0, 0.4); tone(554, 0.45, 0.4); };
  once();
  const t = setInterval(once, 2000);
  return () => clearInterval(t);
}
