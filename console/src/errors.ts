// What went wrong, in words, and where: a refusal's field violations
// (google.rpc.BadRequest in the status details) keyed by the request's
// field path, e.g. "url" or "headers[0].name", for the form to show each
// next to its field.
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";

export interface Problem {
  /** One line for the top of the screen. */
  message: string;
  code: Code;
  /** field path → what is wrong with it. */
  fields: Record<string, string>;
}

export function problem(err: unknown): Problem {
  const e = ConnectError.from(err);
  const fields: Record<string, string> = {};
  for (const detail of e.details) {
    if ("type" in detail && detail.type === "google.rpc.BadRequest") {
      for (const [field, description] of violations(detail.value)) fields[field] = description;
    }
  }
  const count = Object.keys(fields).length;
  const message = count > 0 ? `${count === 1 ? "One field needs" : `${count} fields need`} fixing: see below.` : say(e);
  return { message, code: e.code, fields };
}

function say(e: ConnectError): string {
  switch (e.code) {
    case Code.Unauthenticated:
      return "Your session has ended or this key is not valid. Ask Selki for a new console link.";
    case Code.PermissionDenied:
      return `This session may not do that (${e.rawMessage}). Read-only sessions can look, not change.`;
    case Code.Unavailable:
      return "The server cannot be reached. Check your connection and try again.";
    default:
      return e.rawMessage || Code[e.code];
  }
}

/** BadRequest { repeated FieldViolation field_violations = 1 }, where
 *  FieldViolation { string field = 1; string description = 2 }. */
function violations(bytes: Uint8Array): [string, string][] {
  const found: [string, string][] = [];
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [number, wireType] = reader.tag();
    if (number !== 1) {
      reader.skip(wireType);
      continue;
    }
    const inner = new BinaryReader(reader.bytes());
    let field = "";
    let description = "";
    while (inner.pos < inner.len) {
      const [n, w] = inner.tag();
      if (n === 1) field = inner.string();
      else if (n === 2) description = inner.string();
      else inner.skip(w);
    }
    found.push([field, description]);
  }
  return found;
}

/** The violations under `prefix` ("headers" takes "headers[2].value"). */
export function under(fields: Record<string, string>, prefix: string): [string, string][] {
  return Object.entries(fields).filter(([f]) => f === prefix || f.startsWith(`${prefix}.`) || f.startsWith(`${prefix}[`));
}
