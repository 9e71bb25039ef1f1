"""The sandbox (SANDBOX=1): emulators of the WhatsApp Cloud API and the Twilio Messages
API, a browser chat page and a scripted patient, so anyone can try the bot with no Meta
or Twilio account and tests and benchmarks drive the real webhook paths."""
