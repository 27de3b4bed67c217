// Package ecstest checks JSON documents against the Elastic Common Schema
// (ECS) 9.4 field list, for use in tests of code that emits ECS records.
//
// The field list is the file ../shared/ecs/fields-9.4.0.json next to the
// repository root (the nearest directory above the working directory that
// holds go.mod), or the file named by the VIGIL_ECS_FIELDS environment
// variable. [Load] finds and parses it once per process; [LoadFile] parses a
// given file. A missing file is an error, and tests should fail on it
// rather than skip.
//
// [Schema.Validate] checks one JSON object, [Schema.ValidateLines] checks
// JSON lines (one object per line), and [Schema.Check] reports problems
// through a [testing.TB]. The rules are:
//
//   - Nested objects are flattened into dotted field names; dotted keys such
//     as "event.kind" are accepted too. Every leaf must be an ECS field, or
//     lie under the custom namespace "Vigil." (capitalised), whose contents
//     are not checked beyond the ban on null.
//   - A field of type object, nested or flattened takes a JSON object. If
//     ECS defines sub-fields for it (process.tty, dns.answers, ...), the
//     object's members are checked as those sub-fields; otherwise its
//     contents are opaque.
//   - Values must match the field's type: keyword-like types take strings;
//     long, integer, short, byte and unsigned_long take integers (no
//     fraction or exponent) within range; float-like types take numbers;
//     date takes an RFC 3339 string; ip takes an address accepted by
//     [netip.ParseAddr]; boolean takes a bool; geo_point takes an object or
//     a string.
//   - A field marked "array" must be a JSON array of such values; any other
//     field must not be an array.
//   - null is never accepted, anywhere.
//   - Fields marked "required" (@timestamp and ecs.version) must be present.
//   - Fields with "allowed" values (event.kind, event.category, event.type,
//     event.outcome) and with "expected" values (host.os.type,
//     network.direction, ...) must use one of them; ECS lists expected values
//     so that data can be validated against them.
//   - Each event.type value must be allowed for at least one of the
//     record's event.category values, if it has any.
//   - A field may appear only once, whether spelled nested or dotted.
package ecstest
