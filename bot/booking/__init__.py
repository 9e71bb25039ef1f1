"""The booking core: slots, holds, appointments, waitlist, patients, consent, audit, events."""
