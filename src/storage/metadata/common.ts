/** Types shared by the metadata ports. */

export interface Tag {
  key: string;
  value: string;
}

export interface Page<T> {
  items: T[];
  /** Offset of the next page, or undefined on the last page. */
  nextOffset: number | undefined;
}
