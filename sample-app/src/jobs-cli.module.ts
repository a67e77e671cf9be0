import { AppModule } from './app.module.js';

/** The app as the CLI boots it: `npx nestjs-typeorm-jobs <command> --module sample-app/dist/jobs-cli.module.js#JobsCliModule`. */
export const JobsCliModule = AppModule.forRoot({ runner: false });
