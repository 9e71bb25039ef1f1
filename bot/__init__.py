"""MyMedic booking bot: the web app, channels, dispatch and booking core."""
