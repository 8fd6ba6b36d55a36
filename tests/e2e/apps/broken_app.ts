// An app that fails while loading (--app must say so in one line and exit 1).
throw new Error("this module cannot start: DATABASE_URL is not set");
