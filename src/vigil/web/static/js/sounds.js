// The alarm sound: a short two-tone beep made with WebAudio (no audio file), played when a
// new alarm arrives. Which alarms beep is the operator's choice, kept in localStorage:
// "urgent" (priority 1-2, the default), "all" or "off".

const KEY = 'vigil.alarmSound';
export const SOUND_MODES = [
  { value: 'urgent', label: 'Sound: priority 1–2' },
  { value: 'all', label: 'Sound: every alarm' },
  { value: 'off', label: 'Sound: off' },
];
const URGENT_PRIORITY = 2;

let context = null;

export function soundMode() {
  const mode = localStorage.getItem(KEY);
  return SOUND_MODES.some((m) => m.value === mode) ? mode : 'urgent';
}

export function setSoundMode(mode) {
  localStorage.setItem(KEY, mode);
}

/** Whether a new alarm of this priority should beep. */
export function shouldSound(priority, mode = soundMode()) {
  return mode === 'all' || (mode === 'urgent' && priority <= URGENT_PRIORITY);
}

/** Play the beep; higher priorities (lower numbers) beep more often. Never throws. */
export function beep(priority = 3) {
  try {
    context ??= new AudioContext();
    if (context.state === 'suspended') context.resume().catch(() => {});
    const repeats = priority <= 1 ? 3 : priority <= URGENT_PRIORITY ? 2 : 1;
    let t = context.currentTime + 0.02;
    for (let i = 0; i < repeats; i++) {
      for (const [freq, length] of [[880, 0.12], [660, 0.12]]) {
        const osc = context.createOscillator();
        const gain = context.createGain();
        osc.type = 'square';
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, t);
        gain.gain.exponentialRampToValueAtTime(0.15, t + 0.01);
        gain.gain.exponentialRampToValueAtTime(0.0001, t + length);
        osc.connect(gain).connect(context.destination);
        osc.start(t);
        osc.stop(t + length + 0.02);
        t += length + 0.03;
      }
      t += 0.15;
    }
    document.body.dataset.lastBeep = String(priority); // lets tests and the curious see it
  } catch {
    // no audio device or WebAudio: the queue still shows the alarm
  }
}

/** A new alarm arrived: beep if the setting says so. */
export function alarmRaised(priority) {
  if (shouldSound(priority)) beep(priority);
}

// Browsers start audio only after a user gesture: unlock it on the first click.
document.addEventListener('pointerdown', () => {
  if (context?.state === 'suspended') context.resume().catch(() => {});
}, { once: true });
