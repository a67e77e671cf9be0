import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/**
 * Money taken for an invoice: the effect that must happen once. A row here and its job's success
 * are one commit, so no retry of the job (after a crash, a timeout, a lost lease) adds a second one.
 */
@Entity('sample_payments')
export class Payment {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column({ type: 'integer' })
  invoiceId!: number;

  @Column({ type: 'integer' })
  amountCents!: number;

  /** The job whose run took it. */
  @Column({ type: 'integer' })
  jobId!: number;
}
