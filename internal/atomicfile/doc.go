// Package atomicfile writes files and directories so that readers see either
// the old content or the complete new content, never a partial write.
//
// Files are written to a temporary sibling, flushed, fsynced and renamed into
// place; on error the temporary is removed and the destination is untouched.
package atomicfile
