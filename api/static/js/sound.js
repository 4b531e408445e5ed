// A short beep for critical alerts, through WebAudio (no sound file), when the officer has
// turned sound on; the choice is remembered in this browser.

const KEY = "cordon.sound";
let context = null;

export const sound = {
  enabled: localStorage.getItem(KEY) === "on",
  beeps: 0,  // how many were sounded (shown to tests)

  toggle() {
    this.enabled = !this.enabled;
    localStorage.setItem(KEY, this.enabled ? "on" : "off");
    if (this.enabled) this.unlock();
    return this.enabled;
  },

  // Browsers start audio only after a gesture of the person: called from one.
  unlock() {
    if (!this.enabled) return;
    context ||= new AudioContext();
    if (context.state === "suspended") context.resume();
  },

  beep() {
    if (!this.enabled) return;
    this.beeps += 1;
    try {
      context ||= new AudioContext();
      const osc = context.createOscillator();
      const gain = context.createGain();
      osc.type = "square";
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, context.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, context.currentTime + 0.4);
      osc.connect(gain).connect(context.destination);
      osc.start();
      osc.stop(context.currentTime + 0.4);
    } catch (e) { console.warn("no sound", e); }
  },
};
