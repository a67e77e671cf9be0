/**
 * SQL for the data's JSON as text, its first `chars` characters, and its length in characters:
 * the cut happens in the database, so the column never travels whole. The one place that knows
 * each database's spelling of it.
 */
export function dataText(type: string): {
  text: string;
  cut: (chars: number) => string;
  length: string;
} {
  switch (type) {
    case 'postgres':
      return {
        text: 'CAST(job.data AS text)',
        cut: (chars) => `LEFT(CAST(job.data AS text), ${chars})`,
        length: 'LENGTH(CAST(job.data AS text))',
      };
    case 'mysql':
    case 'mariadb':
      return {
        text: 'CAST(job.data AS CHAR)',
        cut: (chars) => `LEFT(CAST(job.data AS CHAR), ${chars})`,
        length: 'CHAR_LENGTH(CAST(job.data AS CHAR))',
      };
    default:
      return {
        text: 'job.data',
        cut: (chars) => `SUBSTR(job.data, 1, ${chars})`,
        length: 'LENGTH(job.data)',
      };
  }
}
