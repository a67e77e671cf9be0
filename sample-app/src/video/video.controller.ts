import {
  BadRequestException,
  Controller,
  Get,
  HttpCode,
  HttpStatus,
  NotFoundException,
  Param,
  ParseIntPipe,
  Post,
  Query,
} from '@nestjs/common';
import { JobsService, type JobBatch } from 'nestjs-typeorm-jobs';
import {
  IMPORT_REPORT,
  IMPORT_ROW,
  VIDEO_PUBLISH,
  VIDEO_THUMBNAIL,
  VIDEO_TRANSCODE,
} from './video.jobs.js';

const MAX_ROWS = 10_000;

@Controller()
export class VideoController {
  constructor(private readonly jobs: JobsService) {}

  /**
   * `POST /videos/:id/publish`: a flow of four jobs created at once: two transcodes and a
   * thumbnail, then the publish, which runs after all three (see it wait on the dashboard's job page).
   */
  @Post('videos/:id/publish')
  @HttpCode(HttpStatus.ACCEPTED)
  async publish(@Param('id') videoId: string) {
    if (!/^[\w-]{1,64}$/.test(videoId))
      throw new BadRequestException('a video id of 1 to 64 letters');
    const flow = await this.jobs.enqueueFlow({
      kind: VIDEO_PUBLISH,
      data: { videoId },
      children: [
        { kind: VIDEO_TRANSCODE, data: { videoId, height: 1080 } },
        { kind: VIDEO_TRANSCODE, data: { videoId, height: 720 } },
        { kind: VIDEO_THUMBNAIL, data: { videoId } },
      ],
    });
    return {
      publish: flow.job.id,
      waitsOn: flow.children.map((child) => child.job.id),
      location: `/api/jobs/${flow.job.id}`,
    };
  }

  /** `POST /imports?rows=100`: a batch of rows, and a report job once every row has ended. */
  @Post('imports')
  @HttpCode(HttpStatus.ACCEPTED)
  async import(@Query('rows') rows = '100') {
    const count = Number(rows);
    if (!Number.isInteger(count) || count < 1 || count > MAX_ROWS) {
      throw new BadRequestException(`"rows" must be an integer from 1 to ${MAX_ROWS}`);
    }
    const importId = `import-${Date.now()}`;
    const batch = await this.jobs.enqueueBatch(
      Array.from({ length: count }, (_, row) => ({ kind: IMPORT_ROW, data: { importId, row } })),
      { onComplete: { kind: IMPORT_REPORT, data: { importId } } },
    );
    return { importId, batch: batch.id, location: `/imports/${batch.id}` };
  }

  /** `GET /imports/:batch`: the batch's counts (the dashboard's batch page shows them too). */
  @Get('imports/:batch')
  async status(@Param('batch', ParseIntPipe) id: number): Promise<JobBatch> {
    const batch = await this.jobs.batch(id);
    if (!batch) throw new NotFoundException(`no batch ${id}`);
    return batch;
  }
}
