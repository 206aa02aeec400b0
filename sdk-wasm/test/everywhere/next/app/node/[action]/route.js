import * as selki from "@selki/webhooks";
import { respond } from "../../../check.mjs";

export const runtime = "nodejs";

export function POST(request) {
  return respond(selki, request);
}
