// What a backup's walk reports to a progress sink. With none to show it (--no-progress, cron),
// nothing: the walk then does not even format the current path of every file it reads.
import { noProgress, type ProgressSink } from '../observe/progress.ts';
import type { ArchiveOptions } from './archiver.ts';

export function archiveProgress(sink: ProgressSink | undefined): Pick<ArchiveOptions, 'onProgress'> {
  if (!sink || sink === noProgress) return {};
  return {
    onProgress: (c, current, totals) =>
      sink.update({
        operation: 'backup',
        files_done: c.filesNew + c.filesChanged + c.filesUnmodified,
        bytes_done: c.bytesProcessed,
        ...(totals ? { files_total: totals.files, bytes_total: totals.bytes } : {}),
        current,
      }),
  };
}
