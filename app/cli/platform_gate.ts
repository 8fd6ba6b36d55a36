// main.ts's first import, evaluated before every other module of the command: on any platform
// but Linux x86-64 it says so in one line and exits, before a library could be loaded or a
// layout misread. Nothing else happens here.

import { unsupportedPlatform } from "../../ffi/platform.ts";

const unsupported = unsupportedPlatform();
if (unsupported !== null) {
  console.error(`rawserve: ${unsupported}`);
  Deno.exit(1);
}
