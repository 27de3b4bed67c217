// Package fsperm makes Vigil's directories private to the system's
// administrators: keys, the record store and spools must not be readable
// (keys) or writable (records) by other users.
package fsperm
